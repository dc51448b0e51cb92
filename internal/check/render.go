package check

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"
)

// render writes the report, the diffs and the mutated manifests where the
// options say. Standard output carries exactly one kind of output: machine
// output (a report in json/junit/sarif, or the mutated stream for
// --write-mutated -) is never mixed with prose; input errors always go to
// standard error too.
func render(res *Result, o *Options) error {
	for _, e := range res.Errors {
		fmt.Fprintf(o.Stderr, "meshgate: %s\n", clean(e.String()))
	}
	if o.Format == FormatText {
		// Skipped inputs are notices, not part of the report; machine formats
		// carry them as notes.
		for _, n := range res.Notes {
			if n.Kind == NoteSkipped {
				fmt.Fprintf(o.Stderr, "meshgate: %s\n", clean(n.String()))
			}
		}
	}

	// Where the report goes.
	report := o.Stdout
	reportOnStdout := true
	var reportFile *os.File
	if o.OutputFile != "" {
		if dir := filepath.Dir(o.OutputFile); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--output-file: %w", err)
			}
		}
		f, err := os.Create(o.OutputFile)
		if err != nil {
			return fmt.Errorf("--output-file: %w", err)
		}
		reportFile, report, reportOnStdout = f, f, false
	} else if o.WriteMutated == "-" {
		// The mutated stream is the machine output; the text report is prose.
		report, reportOnStdout = o.Stderr, false
	}

	// Where diffs go: standard output only when it carries prose or nothing.
	diffOut := o.Stderr
	stdoutFree := !reportOnStdout && o.WriteMutated != "-"
	if (reportOnStdout && o.Format == FormatText) || stdoutFree {
		diffOut = o.Stdout
	}

	bw := bufio.NewWriterSize(report, 64*1024)
	var err error
	switch o.Format {
	case FormatJSON:
		err = writeJSON(bw, res)
	case FormatJUnit:
		err = writeJUnit(bw, res)
	case FormatSARIF:
		err = writeSARIF(bw, res, o.WorkDir)
	case FormatGitHub:
		err = writeGitHub(bw, res, o.WorkDir)
	case FormatGitLab:
		err = writeGitLab(bw, res, o.WorkDir)
	case FormatOpenReports:
		err = writeOpenReports(bw, res)
	default:
		err = writeText(bw, res, useColor(o, report))
	}
	if err == nil {
		err = bw.Flush()
	}
	if reportFile != nil {
		if cerr := reportFile.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	if o.Diff {
		dw := bufio.NewWriter(diffOut)
		if err := writeDiffs(dw, res); err != nil {
			return fmt.Errorf("write diff: %w", err)
		}
		if err := dw.Flush(); err != nil {
			return fmt.Errorf("write diff: %w", err)
		}
	}
	if o.WriteMutated != "" {
		if err := writeMutated(res, o); err != nil {
			return fmt.Errorf("--write-mutated: %w", err)
		}
	}
	return nil
}

// useColor decides whether text output to w is coloured.
func useColor(o *Options, w io.Writer) bool {
	switch o.Color {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
