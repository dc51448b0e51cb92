package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
)

// reviewError is the input error for an object the engine could not review.
// When the object does not convert to its Go type (an engine.TypeError: a
// `port: "80"`), it names the field and points at its line, instead of the
// converter's bare "unrecognized type: int32" at the object's first line.
func reviewError(obj *manifest.Object, err error) *InputError {
	var te *engine.TypeError
	if errors.As(err, &te) {
		if path, problem := typeMismatch(obj); path != "" {
			return &InputError{File: obj.Source, Line: obj.LineOf(path), Message: fmt.Sprintf("%s: %s: %s", te.Object, path, problem)}
		}
	}
	return &InputError{File: obj.Source, Line: obj.Line, Message: err.Error()}
}

// typeMismatch finds the first field of obj whose value does not fit the field's
// Go type in the built-in API (its path, in field-path syntax, and what is
// wrong), or "" when the kind is not built in or every field fits.
func typeMismatch(obj *manifest.Object) (path, problem string) {
	if obj.Object == nil {
		return "", ""
	}
	typed, err := scheme.Scheme.New(obj.Object.GroupVersionKind())
	if err != nil {
		return "", ""
	}
	return mismatch(obj.Object.Object, reflect.TypeOf(typed), "")
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func mismatch(v any, t reflect.Type, path string) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return "", ""
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8) {
		// Types with their own JSON form (IntOrString, Quantity, Time, []byte):
		// whatever encoding/json accepts.
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, reflect.New(t).Interface())
		}
		if err != nil {
			return path, fmt.Sprintf("not a valid %s: %s", t.Name(), got(v))
		}
		return "", ""
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return path, "want an object, got " + got(v)
		}
		return structMismatch(m, t, path)
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			return path, "want a list, got " + got(v)
		}
		for i, it := range items {
			if p, w := mismatch(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p, w
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return path, "want an object, got " + got(v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, w := mismatch(m[k], t.Elem(), path+"["+k+"]"); p != "" {
				return p, w
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return path, "want a string, got " + got(v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return path, "want true or false, got " + got(v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch n := v.(type) {
		case int64:
		case float64:
			if n != float64(int64(n)) {
				return path, "want an integer, got " + got(v)
			}
		default:
			return path, "want an integer, got " + got(v)
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			return path, "want a number, got " + got(v)
		}
	}
	return "", ""
}

// structMismatch checks the fields of m against struct type t (inline structs
// included).
func structMismatch(m map[string]any, t reflect.Type, path string) (string, string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if p, w := structMismatch(m, ft, path); p != "" {
					return p, w
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		val, ok := m[name]
		if !ok {
			continue
		}
		child := name
		if path != "" {
			child = path + "." + name
		}
		if p, w := mismatch(val, f.Type, child); p != "" {
			return p, w
		}
	}
	return "", ""
}

// got describes a decoded value for a message.
func got(v any) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", t)
	case bool:
		return fmt.Sprintf("%t", t)
	case int64, float64:
		return fmt.Sprintf("the number %v", t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}
