package config

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Document is one YAML document of a multi-document file.
type Document struct {
	// Data is the document, preceded by as many empty lines as came
	// before it in the file, so that Decode's errors name the line of
	// the file, not of the document.
	Data []byte
	// Line is where the document starts in the file (1-based).
	Line int
	// Kind is the document's kind field ("" if it has none).
	Kind string
}

// Documents splits a file of YAML documents separated by "---" lines, the
// way kubectl reads manifests, and skips documents with nothing in them
// (only comments or blank lines).
func Documents(file string, data []byte) ([]Document, error) {
	var docs []Document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0
	flush := func(end int) error {
		body := bytes.Join(lines[start:end], nil)
		if !hasContent(body) {
			return nil
		}
		padded := append(bytes.Repeat([]byte("\n"), start), body...)
		var head struct {
			Kind any `yaml:"kind"`
		}
		if err := yaml.Unmarshal(padded, &head); err != nil {
			return plainError(file, padded, err)
		}
		kind, _ := head.Kind.(string)
		docs = append(docs, Document{Data: padded, Line: start + 1, Kind: kind})
		return nil
	}
	for i, l := range lines {
		if isSeparator(l) {
			if err := flush(i); err != nil {
				return nil, err
			}
			start = i + 1
		}
	}
	if err := flush(len(lines)); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &Error{File: file, Msg: "no YAML documents"}
	}
	return docs, nil
}

func isSeparator(line []byte) bool {
	l := bytes.TrimRight(line, " \t\r\n")
	return bytes.Equal(l, []byte("---")) || bytes.HasPrefix(l, []byte("--- #"))
}

func hasContent(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return true
		}
	}
	return false
}

// String names a document for messages: "file:line (Kind)".
func (d Document) String() string { return fmt.Sprintf("line %d (%s)", d.Line, d.Kind) }
