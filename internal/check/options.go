package check

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/meshgate/meshgate/internal/policy"
)

// Output formats.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatJUnit = "junit"
	FormatSARIF = "sarif"
	// FormatOpenReports writes the OpenReports Report of every live resource
	// (--live), as the continuous audit would write it, in a kind: List.
	FormatOpenReports = "openreports"
)

// Formats lists the output formats, for flag help.
var Formats = []string{FormatText, FormatJSON, FormatJUnit, FormatSARIF, FormatGitHub, FormatGitLab, FormatOpenReports}

// Colour modes for text output.
const (
	ColorAuto   = "auto"
	ColorAlways = "always"
	ColorNever  = "never"
)

// Options configure one run of `meshgate check`.
type Options struct {
	// Files are the inputs: files, directories (recursive, .yaml/.yml/.json) and
	// "-" for standard input.
	Files []string
	// Exclude are globs of paths not to read (see matchGlob): matched against
	// paths relative to a -f directory, and file arguments as given.
	Exclude []string
	// WorldPerDir gives each top-level directory of a -f directory, each file
	// argument and standard input a World of its own (environment overlays);
	// the files directly in a -f directory are shared by its top-level
	// directories' Worlds.
	WorldPerDir bool
	// WorldFiles hold more objects for the World only (not checked).
	WorldFiles []string
	// ConfigFile is meshgate's configuration ("" = defaults).
	ConfigFile string
	// Config, when set, is used instead of ConfigFile.
	Config *policy.Config
	// Format is text, json, junit or sarif ("" = text).
	Format string
	// OutputFile receives the report instead of standard output.
	OutputFile string
	// Diff prints a unified diff of every object a mutation changed.
	Diff bool
	// WriteMutated is a directory to write the mutated manifests to, or "-" for
	// standard output.
	WriteMutated string
	// WarnExitCode is the exit code when there are warnings and no enforce
	// finding (0: warnings do not fail).
	WarnExitCode int
	// FailOnSkipped makes any skipped input (a document that is not a
	// Kubernetes object, a template) an input error: exit 2.
	FailOnSkipped bool
	// Namespace is assumed for namespaced objects without one ("" = "default").
	Namespace string
	// Kubeconfig and Context, when either is set, read the World from a live
	// cluster too (read-only list calls).
	Kubeconfig string
	Context    string
	// Live reviews the live cluster's objects too (read-only list calls), with
	// Files as an overlay: an object in the files is reviewed instead of the
	// cluster's copy, and merged over it in the World.
	Live bool
	// LiveNamespace limits the live objects reviewed to one namespace ("" =
	// all); the World is read from every namespace.
	LiveNamespace string
	// Color is auto (on a terminal, unless NO_COLOR is set), always or never.
	Color string
	// Workers bounds the parallelism (0 = GOMAXPROCS).
	Workers int
	// WorkDir is the directory SARIF paths are relative to ("" = the current one).
	WorkDir string
	// AutoMemoryLimit, unless GOMEMLIMIT is set, gives the Go runtime a soft
	// memory limit for the run that scales with the input (see memoryLimitFor),
	// so the garbage collector does not let the heap grow to twice the live
	// objects. The command sets it; it changes a process-wide setting (restored
	// when Run returns).
	AutoMemoryLimit bool

	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// KeepObjects keeps every decoded and mutated object in the Result (for
	// callers that look at them; --diff and --write-mutated imply it).
	KeepObjects bool

	// restoreLimit undoes AutoMemoryLimit.
	restoreLimit func()
	// cluster replaces the live cluster reader (tests).
	cluster clusterReader
	// wrapWorld, when set, wraps every World the rules read (tests: a World
	// whose lookups fail).
	wrapWorld func(policy.World) policy.World
}

// usageError is a problem with the command line or configuration.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// IsUsageError reports whether err from Run is about the command line (the
// caller should show the usage).
func IsUsageError(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func (o *Options) defaults() error {
	if o.Format == "" {
		o.Format = FormatText
	}
	if !slices.Contains(Formats, o.Format) {
		return usagef("unknown output format %q (want one of %s)", o.Format, strings.Join(Formats, ", "))
	}
	if o.Color == "" {
		o.Color = ColorAuto
	}
	if !slices.Contains([]string{ColorAuto, ColorAlways, ColorNever}, o.Color) {
		return usagef("unknown --color %q (want auto, always or never)", o.Color)
	}
	if len(o.Files) == 0 && !o.Live {
		return usagef("no input: give manifests with -f FILE|DIR|- (repeatable), or --live")
	}
	if o.Live && o.WorldPerDir {
		return usagef("--live and --world-per-dir do not go together: the cluster is one World")
	}
	if o.WarnExitCode < 0 || o.WarnExitCode > 255 {
		return usagef("--warn-exit-code %d is not an exit code (0-255)", o.WarnExitCode)
	}
	for _, p := range o.Exclude {
		if err := validGlob(p); err != nil {
			return err
		}
	}
	if o.WriteMutated == "-" && o.OutputFile == "" && o.Format != FormatText {
		return usagef("--write-mutated - and -o %s both want standard output: add --output-file for the report", o.Format)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.WorkDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		o.WorkDir = wd
	}
	return nil
}

// config is the configuration the run uses.
func (o *Options) config() (*policy.Config, error) {
	if o.Config != nil {
		return o.Config, nil
	}
	cfg, err := policy.LoadConfig(o.ConfigFile)
	if err != nil {
		return nil, &usageError{err}
	}
	return cfg, nil
}

// memoryLimitFloor is the smallest soft memory limit AutoMemoryLimit sets.
const memoryLimitFloor = 160 << 20

// memoryLimitFor is the soft memory limit for inputs of size bytes: decoded
// objects take up to about 11 times their YAML when all are kept (--diff,
// --write-mutated), so 16 times leaves the collector room to work without
// running all the time.
func memoryLimitFor(bytes int64) int64 {
	return max(memoryLimitFloor, 16*bytes)
}

// limitMemory applies AutoMemoryLimit once, for inputs of size bytes.
func (o *Options) limitMemory(bytes int64) {
	if !o.AutoMemoryLimit || o.restoreLimit != nil {
		return
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	prev := debug.SetMemoryLimit(memoryLimitFor(bytes))
	o.restoreLimit = func() { debug.SetMemoryLimit(prev) }
}
