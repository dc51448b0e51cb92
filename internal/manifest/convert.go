package manifest

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxAliasNodes bounds how many nodes alias expansion may produce in one document,
// so a "billion laughs" document is an error rather than an out-of-memory.
const maxAliasNodes = 100_000

// converter turns a yaml.v3 node tree into the map[string]any / []any / scalar
// values of an unstructured object, exactly as kubectl's decoder (sigs.k8s.io/yaml,
// YAML 1.1 scalars, numbers through JSON) would, and records the line of every key
// and sequence item in a flat index as it goes, so the tree itself can be dropped.
type converter struct {
	posIndex
	aliasNodes int
}

// posEntry is one key or sequence item of a document. Entries are in document
// order; an entry's descendants follow it, up to end. 24 bytes each: a
// sequence item is marked by a negative line, and its index is its rank among
// its siblings.
type posEntry struct {
	key  string
	end  int32
	line int32
}

func (e *posEntry) isItem() bool { return e.line < 0 }

func (e *posEntry) lineNo() int {
	if e.line < 0 {
		return int(-e.line)
	}
	return int(e.line)
}

// posIndex builds a document's position index, whose line 1 is the stream's
// line lineOffset.
type posIndex struct {
	lineOffset int
	pos        []posEntry
}

// record adds a position entry and returns its id.
func (x *posIndex) record(item bool, key string, line int) int32 {
	id := int32(len(x.pos))
	l := int32(line + x.lineOffset - 1)
	if item {
		l = -l
	}
	x.pos = append(x.pos, posEntry{key: key, end: id + 1, line: l})
	return id
}

// close marks the end of entry id's descendants.
func (x *posIndex) close(id int32) {
	if id >= 0 {
		x.pos[id].end = int32(len(x.pos))
	}
}

// value converts n; parent is n's position entry (-1: do not record below n).
func (c *converter) value(n *yaml.Node, parent int32, inAlias bool) (any, error) {
	if inAlias {
		c.aliasNodes++
		if c.aliasNodes > maxAliasNodes {
			return nil, lineErrorf(n.Line+c.lineOffset-1, "aliases expand to more than %d nodes", maxAliasNodes)
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return scalar(n), nil
	case yaml.MappingNode:
		return c.mapping(n, parent, inAlias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			id := int32(-1)
			if !inAlias {
				id = c.record(true, "", item.Line)
			}
			v, err := c.value(item, id, inAlias)
			if err != nil {
				return nil, err
			}
			c.close(id)
			out = append(out, v)
		}
		return out, nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, lineErrorf(n.Line+c.lineOffset-1, "unknown alias %q", n.Value)
		}
		return c.value(n.Alias, -1, true)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], parent, inAlias)
	}
	return nil, lineErrorf(n.Line+c.lineOffset-1, "unsupported YAML node")
}

func (c *converter) mapping(n *yaml.Node, parent int32, inAlias bool) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && k.Value == "<<" {
			merges = append(merges, v)
			continue
		}
		key, err := c.key(k)
		if err != nil {
			return nil, err
		}
		id := int32(-1)
		if !inAlias {
			id = c.record(false, key, k.Line)
		}
		val, err := c.value(v, id, inAlias)
		if err != nil {
			return nil, err
		}
		c.close(id)
		out[key] = val
	}
	// Merge keys (`<<: *base`) add the keys the mapping does not set itself.
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			v, err := c.value(s, -1, true)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, lineErrorf(s.Line+c.lineOffset-1, "a merge key (<<) needs a mapping")
			}
			for k, v := range mm {
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

// key renders a mapping key as a string, as sigs.k8s.io/yaml does (`true: x` has
// key "true", `1: x` key "1").
func (c *converter) key(k *yaml.Node) (string, error) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", lineErrorf(k.Line+c.lineOffset-1, "a mapping key must be a scalar")
	}
	return keyString(scalar(k), k.Value), nil
}

// keyString renders a resolved key scalar v, written as raw, as a string key.
func keyString(v any, raw string) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return raw
	}
}

// scalar resolves a scalar node. Quoted and block scalars are strings; plain
// scalars follow YAML 1.1 as kubectl reads them: null, yes/no/on/off booleans,
// integers (int64) and floats (float64; an integral float becomes int64, as the
// JSON round trip in kubectl's decoder does). Timestamps stay strings.
func scalar(n *yaml.Node) any {
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = n.ShortTag()
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 && tag == "" {
		return n.Value
	}
	switch tag {
	case "", "!!int", "!!float", "!!bool", "!!null":
		return resolvePlain(n.Value)
	}
	return n.Value
}

func resolvePlain(s string) any {
	if s == "" {
		return nil
	}
	switch s {
	case "~", "null", "Null", "NULL":
		return nil
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false
	}
	c := s[0]
	if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' {
		return s
	}
	plain := strings.ReplaceAll(s, "_", "")
	if mayBeInt(plain) {
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return float64(u)
		}
	}
	if isYAMLFloat(plain) {
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			return number(f)
		}
	}
	return s
}

// mayBeInt reports whether strconv.ParseInt or ParseUint (base 0) could accept
// s: a sign, then only digits, hex digits, base prefix letters and
// underscores. It spares the two failed parses, and their errors, for values
// like 100m, 1.4.0 and 2024-01-02.
func mayBeInt(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == 'x', c == 'X', c == 'o', c == 'O', c == '_':
		default:
			return false
		}
	}
	return true
}

// number turns an integral float into int64, as encoding it as JSON and reading it
// back (what kubectl's decoder does) would.
func number(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f)
	}
	return f
}

// isYAMLFloat matches YAML 1.1's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
func isYAMLFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// lineError is a problem at one line of the stream.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

func lineErrorf(line int, format string, args ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}
