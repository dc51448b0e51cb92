package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/engine"
	"github.com/meshgate/meshgate/policy"
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
//     "document N" (classname "meshgate.input") in their file's suite.

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
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// kindRules are the rules the engine runs on each kind (DESIGN.md §3); a test
// keeps it in step with the engine's dispatch.
var kindRules = map[schema.GroupKind][]string{
	{Kind: "Pod"}:     {policy.EdgeProxyIstioCerts, policy.EdgeProxyWiring},
	{Kind: "Service"}: {policy.ServicePortProtocol, policy.ServicePortName},
	{Group: "getambassador.io", Kind: "Mapping"}:            {policy.MappingIstioTLS, policy.MappingTLSContext},
	{Group: "getambassador.io", Kind: "TLSContext"}:         {policy.MappingTLSContext},
	{Group: "networking.istio.io", Kind: "VirtualService"}:  {policy.VirtualServiceGatewayRef},
	{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}: {policy.RouteParentRef},
	{Group: "gateway.networking.k8s.io", Kind: "GRPCRoute"}: {policy.RouteParentRef},
	{Group: "gateway.networking.k8s.io", Kind: "TLSRoute"}:  {policy.RouteParentRef},
	{Group: "gateway.networking.k8s.io", Kind: "TCPRoute"}:  {policy.RouteParentRef},
	{Group: "gateway.networking.k8s.io", Kind: "UDPRoute"}:  {policy.RouteParentRef},
}

// rulesFor lists the enabled rules that apply to objects of gk, plus any other
// rule that reported on this object.
func rulesFor(gk schema.GroupKind, cfg *policy.Config, o *Reviewed) []string {
	base := kindRules[gk]
	if engine.IsWorkload(gk) {
		base = kindRules[schema.GroupKind{Kind: "Pod"}]
	}
	var out []string
	seen := map[string]bool{}
	add := func(r string) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, r := range base {
		if cfg.Enabled(r) {
			add(r)
		}
	}
	for _, f := range o.Findings {
		add(f.Rule)
	}
	for _, c := range o.Changes {
		add(c.Rule)
	}
	return out
}

func writeJUnit(w io.Writer, res *Result) error {
	doc := junitSuites{Name: "meshgate"}
	index := map[string]int{}
	suite := func(file string) *junitSuite {
		i, ok := index[file]
		if !ok {
			i = len(doc.Suites)
			index[file] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: file, Time: "0"})
		}
		return &doc.Suites[i]
	}
	for _, f := range res.Files {
		suite(f.Path)
	}
	for _, o := range res.Objects {
		s := suite(o.Source)
		gvk := o.GVK
		ref := o.Ref
		if len(o.Findings) > 0 {
			ref = o.Findings[0].Object
		} else if len(o.Changes) > 0 {
			ref = o.Changes[0].Object
		}
		for _, rule := range rulesFor(gvk.GroupKind(), res.Config, o) {
			tc := junitCase{Name: ref.String(), Classname: "meshgate." + rule, File: o.Source, Line: o.Line, Time: "0"}
			var fails, out []string
			firstLine := 0
			for _, f := range o.Findings {
				if f.Rule != rule {
					continue
				}
				text := fmt.Sprintf("%s: %s%s", loc(f.File, f.Line), fieldPrefix(f.Field), f.Message)
				if f.Mode == policy.Enforce {
					fails = append(fails, text)
					if firstLine == 0 {
						firstLine = f.Line
					}
				} else {
					out = append(out, "warning: "+text)
				}
			}
			for _, c := range o.Changes {
				if c.Rule == rule {
					out = append(out, fmt.Sprintf("change: %s: %s%s", loc(c.File, c.Line), fieldPrefix(c.Field), c.Reason))
				}
			}
			if len(fails) > 0 {
				msg := fails[0]
				if len(fails) > 1 {
					msg = fmt.Sprintf("%d findings; first: %s", len(fails), fails[0])
				}
				tc.Failure = &junitProblem{Message: msg, Type: rule, Text: strings.Join(fails, "\n")}
				tc.Line = firstLine
				s.Failures++
			}
			if len(out) > 0 {
				tc.SystemOut = strings.Join(out, "\n")
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
	}
	for _, e := range res.Errors {
		s := suite(e.File)
		name := "input"
		if e.Line > 0 {
			name = fmt.Sprintf("line %d", e.Line)
		}
		s.Cases = append(s.Cases, junitCase{Name: name, Classname: "meshgate.input", File: e.File, Line: e.Line, Time: "0",
			Error: &junitProblem{Message: e.Message, Type: "input", Text: e.String()}})
		s.Tests++
		s.Errors++
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
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
