package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/policy"
)

// JUnit layout (what Jenkins and GitLab read):
//
//   - one <testsuite> per input file, named by its path;
//   - one <testcase> per object x rule that applies to the object's kind (and is
//     not off): name "Kind namespace/name", classname "meshgate.<rule>", with
//     file and line attributes;
//   - enforce findings are a <failure> (all of the object's findings of that rule
//     in one, one per line);
//   - warnings and changes do not fail the test case: they are listed in its
//     <system-out>, prefixed "warning:" or "change:";
//   - inputs that cannot be read are an <error> test case named
//     "line N" (classname "meshgate.input") in their file's suite;
//   - inputs skipped as not Kubernetes objects are a <skipped> test case named
//     "line N" (classname "meshgate.input") in their file's suite;
//   - what the World did not know (so rules could not apply) is a <skipped>
//     test case (classname "meshgate.world") in the "meshgate World" suite;
//   - duplicate objects are listed in their file's suite's <system-out>.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
	// SystemOut lists notes about the suite's file (duplicates).
	SystemOut string `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// rulesFor lists the rules that review objects of gk (the registered rules
// for the kind, policy.RulesFor, that cfg does not turn off: what the engine
// runs), plus any other rule that reported on this object.
func rulesFor(gk schema.GroupKind, cfg *policy.Config, o *Reviewed) []string {
	var out []string
	for _, r := range policy.RulesFor(gk) {
		if cfg.Enabled(r.ID) {
			out = append(out, r.ID)
		}
	}
	for _, f := range o.Findings {
		if !slices.Contains(out, f.Rule) {
			out = append(out, f.Rule)
		}
	}
	for _, c := range o.Changes {
		if !slices.Contains(out, c.Rule) {
			out = append(out, c.Rule)
		}
	}
	return out
}

func writeJUnit(w io.Writer, res *Result) error {
	doc := buildJUnit(res)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitBuilder gathers test suites by file, in order.
type junitBuilder struct {
	doc   junitSuites
	index map[string]int
}

func (b *junitBuilder) suite(name string) *junitSuite {
	i, ok := b.index[name]
	if !ok {
		i = len(b.doc.Suites)
		b.index[name] = i
		b.doc.Suites = append(b.doc.Suites, junitSuite{Name: clean(name), Time: "0"})
	}
	return &b.doc.Suites[i]
}

func (s *junitSuite) add(tc junitCase) {
	s.Cases = append(s.Cases, tc)
	s.Tests++
	switch {
	case tc.Failure != nil:
		s.Failures++
	case tc.Error != nil:
		s.Errors++
	case tc.Skipped != nil:
		s.Skipped++
	}
}

// buildJUnit lays the result out as JUnit test suites (see the layout above).
func buildJUnit(res *Result) junitSuites {
	b := &junitBuilder{doc: junitSuites{Name: "meshgate"}, index: map[string]int{}}
	for _, f := range res.Files {
		b.suite(f.Path)
	}
	for _, o := range res.Objects {
		s := b.suite(o.Source)
		for _, tc := range objectCases(o, res.Config) {
			s.add(tc)
		}
	}
	for _, e := range res.Errors {
		name := "input"
		if e.Line > 0 {
			name = fmt.Sprintf("line %d", e.Line)
		}
		b.suite(e.File).add(junitCase{Name: name, Classname: "meshgate.input", File: clean(e.File), Line: e.Line, Time: "0",
			Error: &junitProblem{Message: clean(e.Message), Type: "input", Text: clean(e.String())}})
	}
	for _, n := range res.Notes {
		addNoteCase(b, n)
	}
	for _, s := range b.doc.Suites {
		b.doc.Tests += s.Tests
		b.doc.Failures += s.Failures
		b.doc.Errors += s.Errors
	}
	return b.doc
}

// addNoteCase places a note: a skipped input is a skipped test case in its
// file's suite; what the World did not know is a skipped test case of the
// "meshgate World" suite (rules that could not run); a duplicate is in its
// file's suite's <system-out>.
func addNoteCase(b *junitBuilder, n Note) {
	switch n.Kind {
	case NoteSkipped:
		name := "input"
		if n.Line > 0 {
			name = fmt.Sprintf("line %d", n.Line)
		}
		b.suite(n.File).add(junitCase{Name: name, Classname: "meshgate.input", File: clean(n.File), Line: n.Line, Time: "0",
			Skipped: &junitSkipped{Message: clean(n.Message)}})
	case NoteWorld:
		s := b.suite(junitWorldSuite)
		s.add(junitCase{Name: fmt.Sprintf("unknown %d", s.Tests+1), Classname: "meshgate.world", Time: "0",
			Skipped: &junitSkipped{Message: clean(n.Message)}})
	default:
		s := b.suite(n.File)
		if s.SystemOut != "" {
			s.SystemOut += "\n"
		}
		s.SystemOut += "note: " + clean(n.String())
	}
}

// junitWorldSuite holds what the World did not know.
const junitWorldSuite = "meshgate World"

// objectCases are one object's test cases: one per rule that applies to it.
func objectCases(o *Reviewed, cfg *policy.Config) []junitCase {
	ref := o.Ref
	if len(o.Findings) > 0 {
		ref = o.Findings[0].Object
	} else if len(o.Changes) > 0 {
		ref = o.Changes[0].Object
	}
	var notes []string
	for _, n := range o.Notes {
		notes = append(notes, "note: "+clean(n.String()))
	}
	var out []junitCase
	for _, rule := range rulesFor(o.GVK.GroupKind(), cfg, o) {
		tc := junitCase{Name: clean(ref.String()), Classname: "meshgate." + rule, File: clean(o.Source), Line: o.Line, Time: "0"}
		fails, lines, firstLine := ruleOutcome(o, rule)
		if len(fails) > 0 {
			msg := fails[0]
			if len(fails) > 1 {
				msg = fmt.Sprintf("%d findings; first: %s", len(fails), fails[0])
			}
			tc.Failure = &junitProblem{Message: msg, Type: rule, Text: strings.Join(fails, "\n")}
			tc.Line = firstLine
		}
		lines = append(lines, notes...)
		if len(lines) > 0 {
			tc.SystemOut = strings.Join(lines, "\n")
		}
		out = append(out, tc)
	}
	return out
}

// ruleOutcome is what rule found and changed on o: the enforce findings (they
// fail the test case), the warnings and changes (its output) and the line of
// the first enforce finding.
func ruleOutcome(o *Reviewed, rule string) (fails, out []string, firstLine int) {
	for _, f := range o.Findings {
		if f.Rule != rule {
			continue
		}
		text := clean(fmt.Sprintf("%s: %s%s", loc(f.File, f.Line), fieldPrefix(f.Field), f.Message))
		switch f.Mode {
		case policy.Enforce:
			fails = append(fails, text)
			if firstLine == 0 {
				firstLine = f.Line
			}
		case policy.Suppressed:
			out = append(out, "suppressed: "+text)
		default:
			out = append(out, "warning: "+text)
		}
	}
	for _, c := range o.Changes {
		if c.Rule == rule {
			out = append(out, clean(fmt.Sprintf("change: %s: %s%s", loc(c.File, c.Line), fieldPrefix(c.Field), c.Reason)))
		}
	}
	return fails, out, firstLine
}
