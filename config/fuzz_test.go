package config_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"regexp"
	"testing"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
)

// FuzzDecode checks that Decode never panics and that every error it
// returns for a file is an *Error or ErrorList naming the file. What it
// accepts must have the wanted apiVersion and kind, and must decode again
// after encoding.
func FuzzDecode(f *testing.F) {
	defaults, err := os.ReadFile("defaults.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(defaults)
	for _, tc := range badFiles {
		f.Add([]byte(tc.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c v1alpha1.Continuum
		err := config.Decode("fuzz.yaml", data, v1alpha1.KindContinuum, &c)
		checkFuzzResult(t, data, err, c.TypeMeta, v1alpha1.KindContinuum, &c)

		var s v1alpha1.Site
		err = config.Decode("fuzz.yaml", data, v1alpha1.KindSite, &s)
		checkFuzzResult(t, data, err, s.TypeMeta, v1alpha1.KindSite, &s)
	})
}

func checkFuzzResult(t *testing.T, data []byte, err error, tm v1alpha1.TypeMeta, kind string, out any) {
	t.Helper()
	if err != nil {
		checkFuzzError(t, data, err)
		return
	}
	if tm.APIVersion != v1alpha1.APIVersion || tm.Kind != kind {
		t.Fatalf("Decode accepted %+v as a %s", tm, kind)
	}
	encoded, err := yaml.Marshal(out)
	if err != nil {
		t.Fatalf("Marshal of what Decode accepted: %v", err)
	}
	// Decoding into a fresh value of the same type must succeed.
	fresh := newOf(out)
	if err := config.Decode("encoded.yaml", encoded, kind, fresh); err != nil {
		t.Fatalf("Decode of re-encoded %q: %v\nencoded:\n%s", data, err, encoded)
	}
}

func checkFuzzError(t *testing.T, data []byte, err error) {
	t.Helper()
	var list config.ErrorList
	switch e := err.(type) {
	case *config.Error:
		list = config.ErrorList{e}
	case config.ErrorList:
		if len(e) < 2 {
			t.Fatalf("ErrorList of %d: %v", len(e), e)
		}
		list = e
	default:
		t.Fatalf("Decode returned %T %v, want *config.Error or config.ErrorList", err, err)
	}
	lines := len(lineBreakRE.FindAllIndex(asUTF8(data), -1)) + 1
	for _, e := range list {
		if e == nil {
			t.Fatal("nil *Error in list")
		}
		if e.File != "fuzz.yaml" {
			t.Fatalf("error %q names file %q", e, e.File)
		}
		if e.Line < 0 || e.Line > lines+1 || e.Column < 0 || (e.Column > 0 && e.Line == 0) || e.Msg == "" {
			t.Fatalf("error %q has position %d:%d in a file of %d lines", e, e.Line, e.Column, lines)
		}
	}
	var first *config.Error
	if !errors.As(err, &first) {
		t.Fatalf("errors.As found no *Error in %v", err)
	}
}

// lineBreakRE matches what yaml.v3 counts as a line break.
var lineBreakRE = regexp.MustCompile(`\r\n|[\r\n\x{85}\x{2028}\x{2029}]`)

// asUTF8 converts data from UTF-16 if it starts with a UTF-16 byte order
// mark, as yaml.v3 does.
func asUTF8(data []byte) []byte {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return data
	}
	var units []uint16
	for i := 2; i+1 < len(data); i += 2 {
		units = append(units, order.Uint16(data[i:]))
	}
	return []byte(string(utf16.Decode(units)))
}

// newOf returns a pointer to a new zero value of the type out points to.
func newOf(out any) any {
	switch out.(type) {
	case *v1alpha1.Site:
		return new(v1alpha1.Site)
	default:
		return new(v1alpha1.Continuum)
	}
}
