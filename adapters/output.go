package adapters

import (
	"bytes"
	"strings"
	"sync"
)

// DefaultOutputLimit is how much of a step's output is kept: the last 64 KiB.
const DefaultOutputLimit = 64 << 10

// Buffer keeps the last bytes written to it, up to a limit. It is an io.Writer
// safe for concurrent use, so a process's stdout and stderr can share one.
type Buffer struct {
	limit int

	mu      sync.Mutex // mu protects data and written
	data    []byte
	written int64
}

// NewBuffer returns a buffer that keeps the last limit bytes (DefaultOutputLimit when limit <= 0).
func NewBuffer(limit int) *Buffer {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	return &Buffer{limit: limit}
}

// Write appends p, dropping the oldest bytes beyond the limit. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.written += int64(n)
	if len(p) >= b.limit {
		b.data = append(b.data[:0], p[len(p)-b.limit:]...)
		return n, nil
	}
	b.data = append(b.data, p...)
	if len(b.data) > 2*b.limit {
		// Compact now and then rather than on every write.
		b.data = append(b.data[:0], b.data[len(b.data)-b.limit:]...)
	}
	return n, nil
}

// tail returns the kept bytes; b.mu must be held.
func (b *Buffer) tail() []byte {
	if len(b.data) > b.limit {
		return b.data[len(b.data)-b.limit:]
	}
	return b.data
}

// Bytes returns a copy of the kept bytes (at most the limit).
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.tail())
}

// String returns the kept output. When older output was dropped, the partial
// first line is dropped too and the text starts with a note saying so.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tail()
	if b.written <= int64(len(t)) {
		return string(t)
	}
	if i := bytes.IndexByte(t, '\n'); i >= 0 && i < len(t)-1 {
		t = t[i+1:]
	}
	return "[earlier output dropped]\n" + string(t)
}

// Written returns how many bytes were written in all, kept or not.
func (b *Buffer) Written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}

// LastLine returns the last non-blank line written, trimmed of surrounding
// space; for a line redrawn with carriage returns (a progress bar), the last drawing.
func (b *Buffer) LastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return LastLine(string(b.tail()))
}

// LastLine returns the last non-blank line of s, as Buffer.LastLine does.
func LastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		segs := strings.Split(lines[i], "\r")
		for j := len(segs) - 1; j >= 0; j-- {
			if t := strings.TrimSpace(segs[j]); t != "" {
				return t
			}
		}
	}
	return ""
}
