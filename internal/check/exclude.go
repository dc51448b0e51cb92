package check

import (
	"path"
	"strings"
)

// excluded reports whether a path (slash-separated: relative to its -f
// directory, or a file argument as given) matches an --exclude pattern.
func (o *Options) excluded(p string) bool {
	for _, pat := range o.Exclude {
		if matchGlob(pat, p) {
			return true
		}
	}
	return false
}

// matchGlob matches a slash-separated path against a glob: `*`, `?` and `[...]`
// within one path element (path.Match), `**` for any number of elements. A
// pattern without a slash matches an element at any depth (`*.json`,
// `templates`), as in .gitignore; a leading `./` is ignored. A path under a
// matching directory matches too.
func matchGlob(pattern, p string) bool {
	pattern = strings.TrimPrefix(pattern, "./")
	pattern = strings.TrimSuffix(pattern, "/")
	if !strings.Contains(pattern, "/") {
		pattern = "**/" + pattern
	}
	pat := strings.Split(pattern, "/")
	elems := strings.Split(strings.TrimPrefix(p, "./"), "/")
	for k := 1; k <= len(elems); k++ {
		if matchElems(pat, elems[:k]) {
			return true
		}
	}
	return false
}

func matchElems(pat, elems []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(elems); i++ {
				if matchElems(pat[1:], elems[i:]) {
					return true
				}
			}
			return false
		}
		if len(elems) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], elems[0]); err != nil || !ok {
			return false
		}
		pat, elems = pat[1:], elems[1:]
	}
	return len(elems) == 0
}

// validGlob reports whether every element of pattern is a valid path.Match
// pattern.
func validGlob(pattern string) error {
	for _, e := range strings.Split(pattern, "/") {
		if _, err := path.Match(e, ""); err != nil {
			return usagef("--exclude %q: bad pattern: %v", pattern, err)
		}
	}
	return nil
}
