package config

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file turns the messages of a *yaml.TypeError, which carry only a
// line number, into Errors that name the column and the field path. It
// finds the node a message is about among the nodes that start on that
// line, using what else the message says (the field name, the value) to
// choose between several.

// The messages of yaml.v3 that are understood; others keep their text.
var (
	// From KnownFields: "field cpus not found in type v1alpha1.Capacity".
	unknownFieldRE = regexp.MustCompile(`(?s)^field (.*) not found in type (\S+)$`)
	// From duplicate keys: `mapping key "listen" already defined at line 3`.
	duplicateKeyRE = regexp.MustCompile(`(?s)^mapping key (".*") already defined at line (\d+)$`)
	// From a value of the wrong type: "cannot unmarshal !!str `two` into int".
	// yaml.v3 shortens long values to 7 bytes and "...".
	wrongTypeRE = regexp.MustCompile("(?s)^cannot unmarshal (!\\S*|tag:\\S+)(?: `(.*)`)? into (.+)$")
	// From v1alpha1's own unmarshalers: `cannot unmarshal "lots" into quantity (want e.g. 2Gi)`
	// or "cannot unmarshal a mapping into quantity (want e.g. 2Gi)".
	customRE = regexp.MustCompile(`(?s)^cannot unmarshal (".*"|a mapping|a sequence) into `)
)

// nodeInfo places one node in the document: under which key or index of
// which parent it sits, and which Go type yaml.v3 decodes it into. Paths
// are built on demand by following parents, so that deep documents do not
// cost a path per node.
type nodeInfo struct {
	node   *yaml.Node
	parent *nodeInfo    // nil for the root
	key    string       // the mapping key it sits under, if index < 0
	index  int          // the sequence index it sits at, or -1
	isKey  bool         // the node is a mapping key, not a value
	typ    reflect.Type // pointers dereferenced; nil if unknown
	blamed bool         // an earlier message was about this node
}

// value returns the node or, for an alias, the node it refers to.
func (i *nodeInfo) value() *yaml.Node {
	if i.node.Kind == yaml.AliasNode && i.node.Alias != nil {
		return i.node.Alias
	}
	return i.node
}

// blamer assigns yaml.v3's messages about one document to its nodes.
type blamer struct {
	file   string
	nodes  []*nodeInfo         // in document order
	byLine map[int][]*nodeInfo // in document order
	// aliases holds the aliases of each anchored node. yaml.v3 reports an
	// error in an aliased value at the anchor, once for each use.
	aliases map[*yaml.Node][]*nodeInfo
	fields  map[reflect.Type][]reflect.StructField // see yamlFields
}

func newBlamer(file string, root *yaml.Node, rootType reflect.Type) *blamer {
	b := &blamer{
		file:    file,
		byLine:  map[int][]*nodeInfo{},
		aliases: map[*yaml.Node][]*nodeInfo{},
		fields:  map[reflect.Type][]reflect.StructField{},
	}
	b.add(&nodeInfo{node: root, index: -1}, rootType)
	return b
}

// add indexes info's node, of Go type t, and its descendants. Aliases are
// not followed, which could blow up on alias bombs; an error in an
// aliased value is reported at the anchor's line, so find looks for the
// aliases of the nodes on that line.
func (b *blamer) add(info *nodeInfo, t reflect.Type) {
	if t != nil {
		info.typ = deref(t)
	}
	b.nodes = append(b.nodes, info)
	n := info.node
	b.byLine[n.Line] = append(b.byLine[n.Line], info)
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			b.aliases[n.Alias] = append(b.aliases[n.Alias], info)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b.addChild(&nodeInfo{node: k, parent: info, key: k.Value, index: -1, isKey: true})
			b.addChild(&nodeInfo{node: v, parent: info, key: k.Value, index: -1})
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			b.addChild(&nodeInfo{node: c, parent: info, index: i})
		}
	}
}

func (b *blamer) addChild(info *nodeInfo) {
	var t reflect.Type
	if pt := info.parent.typ; pt != nil {
		t = b.childType(pt, info)
	}
	b.add(info, t)
}

// blameAll converts the messages of a *yaml.TypeError.
func (b *blamer) blameAll(msgs []string) ErrorList {
	errs := make(ErrorList, len(msgs))
	for i, msg := range msgs {
		errs[i] = b.blame(msg)
	}
	return errs
}

// floatsForIntegers reports floats where integers are wanted: yaml.v3
// truncates them silently, so "cores: 1.5" would become 1.
func (b *blamer) floatsForIntegers() ErrorList {
	var errs ErrorList
	for _, info := range b.nodes {
		if info.isKey || info.typ == nil || info.value().Kind != yaml.ScalarNode || info.value().ShortTag() != "!!float" {
			continue
		}
		switch info.typ.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			errs = append(errs, b.at(info, 0, fmt.Sprintf("want %s, got %s", describeType(info.typ), describeNode(info.value()))))
		}
	}
	return errs
}

// locate finds the node of an error that yaml.v3 reports without a line:
// a value rejected by an encoding.TextUnmarshaler such as time.Time, whose
// message quotes the value.
func (b *blamer) locate(e *Error) {
	for _, info := range b.nodes {
		if info.isKey || info.typ == nil || info.value().Kind != yaml.ScalarNode ||
			!reflect.PointerTo(info.typ).Implements(textUnmarshaler) ||
			!strings.Contains(e.Msg, strconv.Quote(info.value().Value)) {
			continue
		}
		e.Line, e.Column, e.Path = info.node.Line, info.node.Column, info.path()
		return
	}
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// blame converts one message of a *yaml.TypeError.
func (b *blamer) blame(msg string) *Error {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: b.file, Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	msg = m[2]
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return b.unknownField(line, m[1], m[2])
	}
	if m := duplicateKeyRE.FindStringSubmatch(msg); m != nil {
		return b.duplicateKey(line, m[1], m[2])
	}
	if m := wrongTypeRE.FindStringSubmatch(msg); m != nil {
		return b.wrongType(line, m[1], m[2], m[3])
	}
	if m := customRE.FindStringSubmatch(msg); m != nil {
		return b.custom(line, m[1], msg)
	}
	return b.at(b.findFirst(line, isValue), line, msg)
}

// unknownField reports a key that is not a field of typeName, and lists
// the fields that are.
func (b *blamer) unknownField(line int, name, typeName string) *Error {
	info := b.findFirst(line,
		func(i *nodeInfo) bool { return i.isKey && i.value().Value == name },
		func(i *nodeInfo) bool { return i.isKey })
	if info == nil {
		return &Error{File: b.file, Line: line, Msg: fmt.Sprintf("unknown field %q in %s", name, typeName)}
	}
	// The key's parent is the mapping decoded into typeName. It is not
	// when the key was merged in ("<<: *anchor") from elsewhere.
	t := info.parent.typ
	if t == nil || t.String() != typeName || t.Kind() != reflect.Struct {
		return b.at(info, line, fmt.Sprintf("unknown field in %s", typeName))
	}
	return b.at(info, line, fmt.Sprintf("unknown field (known fields: %s)", strings.Join(b.fieldNames(t), ", ")))
}

// duplicateKey reports the second occurrence of a key in a mapping.
func (b *blamer) duplicateKey(line int, quotedKey, firstLine string) *Error {
	key, err := strconv.Unquote(quotedKey)
	info := b.findFirst(line,
		func(i *nodeInfo) bool { return i.isKey && err == nil && i.value().Value == key },
		func(i *nodeInfo) bool { return i.isKey })
	return b.at(info, line, fmt.Sprintf("duplicate key (first defined at line %s)", firstLine))
}

// wrongType reports a value that cannot be decoded into typeName.
func (b *blamer) wrongType(line int, tag, shortValue, typeName string) *Error {
	looksRight := func(i *nodeInfo) bool {
		switch tag {
		case "!!seq":
			return i.value().Kind == yaml.SequenceNode
		case "!!map":
			return i.value().Kind == yaml.MappingNode
		}
		return i.value().Kind == yaml.ScalarNode && yamlShorten(i.value().Value) == shortValue
	}
	typeRight := func(i *nodeInfo) bool { return i.typ != nil && i.typ.String() == typeName }
	info := b.findFirst(line,
		func(i *nodeInfo) bool { return looksRight(i) && typeRight(i) },
		typeRight,
		looksRight,
		isValue)
	if info == nil {
		return &Error{File: b.file, Line: line, Msg: fmt.Sprintf("cannot use %s value as %s", tag, typeName)}
	}
	want := typeName
	if typeRight(info) {
		want = describeType(info.typ)
	}
	return b.at(info, line, fmt.Sprintf("want %s, got %s", want, describeNode(info.value())))
}

// custom reports a message from one of v1alpha1's unmarshalers, such as
// Quantity's, which describes the value as desc. It keeps the message.
func (b *blamer) custom(line int, desc, msg string) *Error {
	looksRight := valueMatching(desc)
	typeRight := func(i *nodeInfo) bool {
		return !i.isKey && i.typ != nil && reflect.PointerTo(i.typ).Implements(yamlUnmarshaler)
	}
	info := b.findFirst(line,
		func(i *nodeInfo) bool { return looksRight(i) && typeRight(i) },
		typeRight,
		looksRight,
		isValue)
	return b.at(info, line, msg)
}

// at returns an Error about info's node, or only about line if info is nil.
func (b *blamer) at(info *nodeInfo, line int, msg string) *Error {
	if info == nil {
		return &Error{File: b.file, Line: line, Msg: msg}
	}
	return &Error{File: b.file, Line: info.node.Line, Column: info.node.Column, Path: info.path(), Msg: msg}
}

// findFirst returns the node that the first of matches that matches
// any node starting on line finds, or nil.
func (b *blamer) findFirst(line int, matches ...func(*nodeInfo) bool) *nodeInfo {
	for _, match := range matches {
		if info := b.find(line, match); info != nil {
			return info
		}
	}
	return nil
}

// find returns the first node starting on line, or alias of one, that
// match accepts, preferring nodes no earlier message was about: yaml.v3
// reports in document order, so with two alike nodes on one line (flow
// style), the first message is about the first. It returns nil if none
// match.
func (b *blamer) find(line int, match func(*nodeInfo) bool) *nodeInfo {
	var again *nodeInfo
	// consider reports whether c is the node; it remembers in again the
	// first blamed node that matches.
	consider := func(c *nodeInfo) bool {
		if (c.blamed && again != nil) || !match(c) {
			return false
		}
		if c.blamed {
			again = c
			return false
		}
		c.blamed = true
		return true
	}
	for _, info := range b.byLine[line] {
		if consider(info) {
			return info
		}
		for _, a := range b.aliases[info.node] {
			if consider(a) {
				return a
			}
		}
	}
	return again
}

func isValue(i *nodeInfo) bool { return !i.isKey }

// valueMatching matches the value that a v1alpha1 unmarshaler message
// describes: a quoted scalar, "a mapping" or "a sequence".
func valueMatching(desc string) func(*nodeInfo) bool {
	return func(i *nodeInfo) bool {
		if i.isKey {
			return false
		}
		switch desc {
		case "a mapping":
			return i.value().Kind == yaml.MappingNode
		case "a sequence":
			return i.value().Kind == yaml.SequenceNode
		}
		v, err := strconv.Unquote(desc)
		return err == nil && i.value().Kind == yaml.ScalarNode && i.value().Value == v
	}
}

// yamlShorten shortens a value the way yaml.v3 does in its messages.
func yamlShorten(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// path returns the dotted field path of info's node, such as
// "spec.sites[1].name". Keys that are not identifiers are quoted:
// metadata.labels["app.kubernetes.io/name"].
func (info *nodeInfo) path() string {
	var chain []*nodeInfo
	for i := info; i.parent != nil; i = i.parent {
		chain = append(chain, i)
	}
	var b strings.Builder
	for _, i := range slices.Backward(chain) {
		switch {
		case i.index >= 0:
			b.WriteString("[" + strconv.Itoa(i.index) + "]")
		case isIdentifier(i.key):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(i.key)
		default:
			b.WriteString("[" + strconv.Quote(i.key) + "]")
		}
	}
	return b.String()
}

var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func isIdentifier(s string) bool { return identifierRE.MatchString(s) }

// childType returns the Go type of child i of a node of type t, or nil.
func (b *blamer) childType(t reflect.Type, i *nodeInfo) reflect.Type {
	switch {
	case i.isKey && t.Kind() == reflect.Map:
		return t.Key()
	case i.isKey && t.Kind() == reflect.Struct:
		return reflect.TypeFor[string]() // yaml.v3 decodes field names into a string
	case i.isKey:
		return nil
	case t.Kind() == reflect.Struct && i.index < 0:
		for _, f := range b.yamlFields(t) {
			if f.Name == i.key {
				return f.Type
			}
		}
	case t.Kind() == reflect.Map && i.index < 0:
		return t.Elem()
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && i.index >= 0:
		return t.Elem()
	}
	return nil
}
