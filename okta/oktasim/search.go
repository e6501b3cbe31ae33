package oktasim

import (
	"fmt"
	"strings"
)

// expr is a parsed Okta search/filter expression: `attr op "value"` joined by and/or, with parens.
type expr struct {
	op          string // "and", "or", or a comparison operator
	left, right *expr
	attr, value string
}

func (e *expr) eval(attrs map[string]string) bool {
	switch e.op {
	case "and":
		return e.left.eval(attrs) && e.right.eval(attrs)
	case "or":
		return e.left.eval(attrs) || e.right.eval(attrs)
	}
	v, present := attrs[e.attr]
	lv, lw := strings.ToLower(v), strings.ToLower(e.value)
	switch e.op {
	case "eq":
		return present && lv == lw
	case "ne":
		return !present || lv != lw
	case "sw":
		return present && strings.HasPrefix(lv, lw)
	case "co":
		return present && strings.Contains(lv, lw)
	case "pr":
		return present && v != ""
	case "gt":
		return present && v > e.value
	case "ge":
		return present && v >= e.value
	case "lt":
		return present && v < e.value
	case "le":
		return present && v <= e.value
	}
	return false
}

var comparisons = map[string]bool{"eq": true, "ne": true, "sw": true, "co": true, "pr": true,
	"gt": true, "ge": true, "lt": true, "le": true}

type exprParser struct {
	toks    []string
	pos     int
	allowed map[string]bool // nil: any attribute (search); else filter's short list, eq/gt/lt only
}

// parseExpr parses a search (allowed == nil) or a filter expression.
func parseExpr(s string, allowed map[string]bool) (*expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks, allowed: allowed}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) next() string { t := p.peek(); p.pos++; return t }

func (p *exprParser) or() (*expr, error) {
	l, err := p.and()
	for err == nil && strings.EqualFold(p.peek(), "or") {
		p.next()
		var r *expr
		if r, err = p.and(); err == nil {
			l = &expr{op: "or", left: l, right: r}
		}
	}
	return l, err
}

func (p *exprParser) and() (*expr, error) {
	l, err := p.term()
	for err == nil && strings.EqualFold(p.peek(), "and") {
		p.next()
		var r *expr
		if r, err = p.term(); err == nil {
			l = &expr{op: "and", left: l, right: r}
		}
	}
	return l, err
}

func (p *exprParser) term() (*expr, error) {
	if p.peek() == "(" {
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return e, nil
	}
	attr, op := p.next(), strings.ToLower(p.next())
	if attr == "" || attr == "(" || attr == ")" || !comparisons[op] {
		return nil, fmt.Errorf("expected `attribute operator value` at %q", attr)
	}
	if p.allowed != nil && (!p.allowed[attr] || (op != "eq" && !(attr == "lastUpdated" && op != "pr"))) {
		return nil, fmt.Errorf("filter does not support %s %s", attr, op)
	}
	e := &expr{op: op, attr: attr}
	if op == "pr" {
		return e, nil
	}
	v := p.next()
	if !strings.HasPrefix(v, `"`) {
		if v == "" || v == "(" || v == ")" {
			return nil, fmt.Errorf("missing value for %s", attr)
		}
		e.value = v
		return e, nil
	}
	e.value = unescape(v[1 : len(v)-1])
	return e, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == ' ' || ch == '\t':
			i++
		case ch == '(' || ch == ')':
			toks = append(toks, string(ch))
			i++
		case ch == '"':
			// A backslash escapes the next character (\" and \\), so a
			// value may end in an escaped backslash: "Finance\\".
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()\"", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// unescape undoes the backslash escapes of a quoted value: \" and \\.
func unescape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
