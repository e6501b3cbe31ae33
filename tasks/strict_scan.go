package tasks

import (
	"reflect"
	"strconv"
)

// scanClean is checkJSON's walk done over the bytes, without json.Decoder's
// tokens: it reports whether checkJSON would find nothing wrong (no key
// given twice, no unknown field, every value of the kind its type takes,
// nothing after the value). A worker decodes every task: the token walk
// was 3/4 of DecodeTask, 30 us and ~150 allocations a task; this is a
// few us and none.
//
// It is only a shortcut: false means "ask checkJSON", which then names
// the field (a key with an escape is always left to it). Syntax is not
// checked here beyond what the walk needs; json.Unmarshal, which runs
// after, refuses bad syntax, and Decode then asks checkJSON too.
func scanClean(payload []byte, t reflect.Type) bool {
	s := scan{b: payload}
	if !s.value(t) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// scanBodyClean is scanClean for DecodeBody: a key the struct lacks is
// also taken when its full path is in extra (with any value, as the walk
// takes it). The API decodes every POST /v1/actions body: the token
// walk was 157 allocations and ~11 us of it (issue 19).
func scanBodyClean(doc []byte, t reflect.Type, extra map[string]bool) bool {
	var pathBuf [64]byte
	s := scan{b: doc, extra: extra, path: pathBuf[:0]}
	if !s.value(t) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

type scan struct {
	b []byte
	i int
	// extra (nil: none) and path, the walk's full path of the value
	// being read, kept only when there are extras to match.
	extra map[string]bool
	path  []byte
}

func (s *scan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// literal consumes word (true, false, null).
func (s *scan) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str consumes a string and returns its raw content; escaped reports a
// backslash in it.
func (s *scan) str() (raw []byte, escaped, ok bool) {
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			s.i = j + 1
			return s.b[start:j], escaped, true
		}
	}
	return nil, false, false
}

// value mirrors jsonWalker.value: t (nil: anything) must accept it.
func (s *scan) value(t reflect.Type) bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	c := s.b[s.i]
	if c == 'n' {
		return s.literal("null")
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	k := reflect.Interface
	if t != nil {
		k = t.Kind()
		if reflect.PointerTo(t).Implements(textUnmarshaler) {
			if c != '"' {
				return false
			}
			_, _, ok := s.str()
			return ok
		}
	}
	switch {
	case c == '{':
		return (k == reflect.Struct || k == reflect.Map || k == reflect.Interface) && s.object(t)
	case c == '[':
		return (k == reflect.Slice || k == reflect.Array || k == reflect.Interface) && s.array(t)
	case c == '"':
		_, _, ok := s.str()
		return ok && (k == reflect.String || k == reflect.Interface)
	case c == 't' || c == 'f':
		return (k == reflect.Bool || k == reflect.Interface) && (s.literal("true") || s.literal("false"))
	case c == '-' || ('0' <= c && c <= '9'):
		if !isNumber(k) && k != reflect.Interface {
			return false
		}
		for s.i < len(s.b) && isNumberByte(s.b[s.i]) {
			s.i++
		}
		return true
	}
	return false
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// object mirrors jsonWalker.object; s.i is at '{'.
func (s *scan) object(t reflect.Type) bool {
	s.i++
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = cachedFields(t)
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		key, escaped, ok := s.str()
		if !ok || escaped || !ascii(key) {
			// json.Decoder unescapes keys and mends bad UTF-8: two
			// keys that differ here may be one key to it.
			return false
		}
		for _, k := range seen {
			if string(k) == string(key) {
				return false
			}
		}
		seen = append(seen, key)
		n := len(s.path)
		if s.extra != nil {
			if n > 0 {
				s.path = append(s.path, '.')
			}
			s.path = append(s.path, key...)
		}
		ft := elem
		if fields != nil {
			if ft, ok = fields[string(key)]; !ok && !s.extra[string(s.path)] {
				return false
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		if !s.value(ft) {
			return false
		}
		s.path = s.path[:n]
		if done, ok := s.sep('}'); !ok || done {
			return ok
		}
	}
}

// sep reads what follows a member or an element: ',' (more follow) or
// end (the object or array is done); anything else is not clean.
func (s *scan) sep(end byte) (done, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return false, true
	case end:
		s.i++
		return true, true
	}
	return false, false
}

// array mirrors jsonWalker.array; s.i is at '['.
func (s *scan) array(t reflect.Type) bool {
	s.i++
	var et reflect.Type
	if t != nil && t.Kind() != reflect.Interface {
		et = t.Elem()
	}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	n := len(s.path)
	for i := 0; ; i++ {
		if s.extra != nil {
			if n == 0 {
				s.path = append(s.path, "payload"...)
			}
			s.path = append(s.path, '[')
			s.path = strconv.AppendInt(s.path, int64(i), 10)
			s.path = append(s.path, ']')
		}
		if !s.value(et) {
			return false
		}
		s.path = s.path[:n]
		if done, ok := s.sep(']'); !ok || done {
			return ok
		}
	}
}
