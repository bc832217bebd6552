// Package logging builds the process's slog.Logger: human-readable text when
// the output is a terminal, JSON lines otherwise (for log shippers).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// Format selects the log encoding.
type Format string

// The formats. Auto picks text for terminals and JSON for everything else.
const (
	FormatAuto Format = "auto"
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") and format.
func New(w io.Writer, level string, format Format) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch resolve(format, w) {
	case FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want auto, text or json", format)
	}
}

func resolve(format Format, w io.Writer) Format {
	if Format(strings.ToLower(string(format))) != FormatAuto {
		return Format(strings.ToLower(string(format)))
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return FormatText
	}
	return FormatJSON
}

// Discard returns a logger that drops everything, for tests and libraries
// whose caller passed none.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
