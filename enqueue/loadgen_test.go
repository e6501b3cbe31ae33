package enqueue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
)

// leanConn is one persistent HTTP/1.1 connection of a load generator in
// the manner of wrk: it writes a request built beforehand and reads the
// response off a bufio.Reader, nothing else. The API's producers call
// it from other machines, so their client's CPU is not the API's;
// net/http's Client in the benchmark's own process costs about as much
// CPU per request as the server (BenchmarkPostActions).
type leanConn struct {
	conn net.Conn
	r    *bufio.Reader
	// body holds the last response's body (reused).
	body []byte
}

// dialLean opens n connections to addr (host:port).
func dialLean(tb testing.TB, addr string, n int) []*leanConn {
	tb.Helper()
	conns := make([]*leanConn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		conns[i] = &leanConn{conn: c, r: bufio.NewReaderSize(c, 4096)}
	}
	return conns
}

// leanRequest is a POST of a JSON body with a bearer token.
func leanRequest(host, path, token string, body []byte) []byte {
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, host, token, len(body))
	return append(req, body...)
}

// roundTrip writes req and reads its response whole: the status line,
// the headers, and the body by Content-Length or chunked encoding (into
// lc.body). A response the connection cannot be kept for is an error.
func (lc *leanConn) roundTrip(req []byte) (status int, err error) {
	if _, err := lc.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := lc.line()
	if err != nil {
		return 0, fmt.Errorf("status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || (len(line) > 12 && line[12] != ' ') {
		return 0, fmt.Errorf("status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, fmt.Errorf("status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := lc.line()
		if err != nil {
			return 0, fmt.Errorf("header: %w", err)
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("header line %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return 0, fmt.Errorf("Transfer-Encoding %q", value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			return 0, errors.New("the server closes the connection")
		}
	}
	lc.body = lc.body[:0]
	switch {
	case chunked:
		return status, lc.chunks()
	case length >= 0:
		return status, lc.read(length)
	case status == 204 || status == 304 || status < 200:
		return status, nil
	}
	return 0, errors.New("a response without Content-Length or chunked encoding ends with the connection")
}

// line reads one CRLF-terminated line, without its CRLF.
func (lc *leanConn) line() ([]byte, error) {
	l, err := lc.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("line %q does not end with CRLF", l)
	}
	return l[:len(l)-2], nil
}

// read appends n bytes of body.
func (lc *leanConn) read(n int) error {
	for n > 0 {
		b, err := lc.r.Peek(min(n, lc.r.Size()))
		if len(b) == 0 {
			return fmt.Errorf("body: %w", err)
		}
		lc.body = append(lc.body, b...)
		lc.r.Discard(len(b))
		n -= len(b)
	}
	return nil
}

// chunks reads a chunked body: chunks, the last (size 0), trailers.
func (lc *leanConn) chunks() error {
	for {
		l, err := lc.line()
		if err != nil {
			return fmt.Errorf("chunk size: %w", err)
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(l)), 16, 31)
		if err != nil {
			return fmt.Errorf("chunk size %q", l)
		}
		if size == 0 {
			break
		}
		if err := lc.read(int(size)); err != nil {
			return err
		}
		if crlf, err := lc.line(); err != nil || len(crlf) != 0 {
			return fmt.Errorf("chunk of %d bytes not followed by CRLF (%q, %v)", size, crlf, err)
		}
	}
	for { // trailers, up to the empty line
		l, err := lc.line()
		if err != nil {
			return fmt.Errorf("trailer: %w", err)
		}
		if len(l) == 0 {
			return nil
		}
	}
}
