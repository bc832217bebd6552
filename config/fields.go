package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file sees Go types and YAML nodes the way yaml.v3 does, to name
// fields and describe values in messages.

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// yamlFields returns structFields(t), computed once per type and blamer.
func (b *blamer) yamlFields(t reflect.Type) []reflect.StructField {
	fields, ok := b.fields[t]
	if !ok {
		fields = structFields(t)
		b.fields[t] = fields
	}
	return fields
}

// structFields returns the fields of struct type t under their YAML names,
// in declaration order, with ",inline" structs flattened, as yaml.v3 sees
// them. The Type of each is the field's type.
func structFields(t reflect.Type) []reflect.StructField {
	var fields []reflect.StructField
	for _, f := range reflect.VisibleFields(t) {
		if len(f.Index) > 1 || (!f.IsExported() && !f.Anonymous) {
			continue // promoted fields count only through ",inline"
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if ft := deref(f.Type); slices.Contains(strings.Split(opts, ","), "inline") && ft.Kind() == reflect.Struct {
			fields = append(fields, structFields(ft)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		f.Name = name
		fields = append(fields, f)
	}
	return fields
}

func (b *blamer) fieldNames(t reflect.Type) []string {
	var names []string
	for _, f := range b.yamlFields(t) {
		names = append(names, f.Name)
	}
	return names
}

// describeType says in YAML terms what a value of type t must look like.
func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "a timestamp such as 2006-01-02T15:04:05Z"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return t.String()
}

// describeNode says what a node holds, quoting strings so that "2" and 2
// can be told apart.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str", "!!binary", "!!timestamp":
			return strconv.Quote(shorten(n.Value))
		}
		return shorten(n.Value)
	}
	return "a document"
}

// shorten keeps messages readable when a value is long.
func shorten(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit-3]) + "..."
}
