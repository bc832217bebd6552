package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// ReadParquet reads a series from the Parquet file held by r, size bytes
// long, with the same rules as ReadSeries: columns by name, the time column
// detected or given, the value column given or the last one that is not the
// time column.
//
// Only top-level columns of primitive type count; a value column holds
// INT32, INT64 (signed or not), FLOAT, DOUBLE, DECIMAL or numbers as
// strings; a time column holds TIMESTAMP (any unit; a timestamp not adjusted
// to UTC is read as UTC wall-clock time, as a CSV time without zone is),
// DATE, legacy INT96 timestamps, or strings in the CSV layouts. A null, a
// NaN or an unparsable string is an error naming its row, counted from 1 at
// the first data row since a Parquet file has no header row.
func ReadParquet(r io.ReaderAt, size int64, opts SeriesOptions) (s Series, err error) {
	// parquet-go panics on some malformed schemas (a negative child count,
	// found by FuzzReadParquet; a DECIMAL of the wrong physical type)
	// instead of returning an error. A trace file comes from outside, so a
	// panic here means a corrupt file, not a bug of the caller's. Panics
	// cannot be the only guard: a claimed size parquet-go allocates kills
	// the process outright, hence checkParquetFooter and checkRowGroups.
	defer func() {
		if p := recover(); p != nil {
			s, err = Series{}, fmt.Errorf("trace: corrupt Parquet file: %v", p)
		}
	}()
	if err := checkParquetFooter(r, size); err != nil {
		return Series{}, err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return Series{}, fmt.Errorf("trace: not a readable Parquet file: %w", err)
	}
	columns := f.Root().Columns()
	header := make([]string, len(columns))
	for i, c := range columns {
		header[i] = c.Name()
	}
	timeCol, valueCol, err := pickColumns(header, opts)
	if err != nil {
		return Series{}, err
	}
	// Both columns' types are checked before any row is read, so a wrong
	// column is reported as such rather than as a bad first row.
	decodeValue, err := valueDecoder(columns[valueCol])
	if err != nil {
		return Series{}, err
	}
	if err := checkRowGroups(r, size, f, columns[valueCol]); err != nil {
		return Series{}, err
	}
	s = Series{Name: header[valueCol]}
	if timeCol >= 0 {
		decodeTime, err := timeDecoder(columns[timeCol])
		if err != nil {
			return Series{}, err
		}
		if err := checkRowGroups(r, size, f, columns[timeCol]); err != nil {
			return Series{}, err
		}
		if s.Times, err = readColumn(f, columns[timeCol], decodeTime); err != nil {
			return Series{}, err
		}
	}
	if s.Values, err = readColumn(f, columns[valueCol], decodeValue); err != nil {
		return Series{}, err
	}
	if len(s.Values) == 0 {
		return Series{}, errors.New("trace: no data rows in the Parquet file")
	}
	if timeCol >= 0 && len(s.Times) != len(s.Values) {
		return Series{}, fmt.Errorf("trace: corrupt Parquet file: column %q has %d values, column %q %d", header[timeCol], len(s.Times), header[valueCol], len(s.Values))
	}
	return s, nil
}

// checkParquetFooter checks the file's trailer (footer length and magic
// "PAR1") and the footer's Thrift structure before parquet-go decodes it:
// parquet-go allocates whatever length the file claims (the footer's, a
// list's, a string's) before reading it, so a corrupt file of a few bytes
// could otherwise make it ask for gigabytes and kill the process.
func checkParquetFooter(r io.ReaderAt, size int64) error {
	const magic = "PAR1"
	if size < int64(2*len(magic)+4) {
		return fmt.Errorf("trace: not a Parquet file: %d bytes is too short", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("trace: reading Parquet footer: %w", err)
	}
	if string(tail[4:]) != magic {
		return fmt.Errorf("trace: not a Parquet file: it ends in %q, want %q (truncated, or encrypted which is not supported)", tail[4:], magic)
	}
	length := int64(binary.LittleEndian.Uint32(tail[:4]))
	if length > size-int64(2*len(magic)+4) {
		return fmt.Errorf("trace: corrupt Parquet file: footer of %d bytes in a file of %d", length, size)
	}
	footer := make([]byte, length)
	if _, err := r.ReadAt(footer, size-8-length); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("trace: reading Parquet footer: %w", err)
	}
	if _, err := thriftStructLen(footer); err != nil {
		return fmt.Errorf("trace: corrupt Parquet file: footer: %w", err)
	}
	return nil
}

// Limits past which a file is taken as corrupt rather than read: no writer
// makes pages this large (pyarrow, Spark and parquet-go aim at 1 MiB), and
// a series this long is years of per-second samples.
const (
	maxPageBytes  = 128 << 20
	maxPageValues = 1 << 24
	maxSeriesRows = 1 << 26
)

// checkRowGroups checks the row counts the footer claims and, for the
// column chunks of col, each page header: that its data lies inside the
// chunk, and that its sizes and value counts are within the limits above.
// parquet-go trusts those numbers and allocates them before it reads.
func checkRowGroups(r io.ReaderAt, size int64, f *parquet.File, col *parquet.Column) error {
	meta := f.Metadata()
	var rows int64
	for _, rg := range meta.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > maxSeriesRows-rows {
			return fmt.Errorf("trace: Parquet file of more than %d rows (or a corrupt row count): resample it before forecasting", maxSeriesRows)
		}
		rows += rg.NumRows
		if col.Index() >= len(rg.Columns) {
			return fmt.Errorf("trace: corrupt Parquet file: a row group lacks column %q", col.Name())
		}
		if err := checkPages(r, size, rg.Columns[col.Index()].MetaData, rg.NumRows); err != nil {
			return fmt.Errorf("trace: corrupt Parquet file: column %q: %w", col.Name(), err)
		}
	}
	return nil
}

// checkPages walks the page headers of one column chunk, found where
// parquet-go looks: from the dictionary page, if any, else the first data
// page, for the chunk's compressed size.
func checkPages(r io.ReaderAt, size int64, meta format.ColumnMetaData, rows int64) error {
	off := meta.DataPageOffset
	if meta.DictionaryPageOffset != 0 {
		off = meta.DictionaryPageOffset
	}
	if off < 4 || meta.TotalCompressedSize < 0 || meta.TotalCompressedSize > size-off {
		return fmt.Errorf("chunk of %d bytes at offset %d is outside the file of %d bytes", meta.TotalCompressedSize, off, size)
	}
	end := off + meta.TotalCompressedSize
	var values int64
	for off < end {
		header, n, err := readPageHeader(r, off, end)
		if err != nil {
			return fmt.Errorf("page header at offset %d: %w", off, err)
		}
		count := int64(0)
		switch {
		case header.DataPageHeader.Valid:
			count = int64(header.DataPageHeader.V.NumValues)
		case header.DataPageHeaderV2.Valid:
			count = int64(header.DataPageHeaderV2.V.NumValues)
		case header.DictionaryPageHeader.Valid && header.DictionaryPageHeader.V.NumValues > maxPageValues:
			return fmt.Errorf("dictionary page at offset %d claims %d values", off, header.DictionaryPageHeader.V.NumValues)
		}
		switch {
		case header.CompressedPageSize < 0 || int64(header.CompressedPageSize) > end-off-n:
			return fmt.Errorf("page at offset %d claims %d bytes, the chunk has %d left", off, header.CompressedPageSize, end-off-n)
		case header.UncompressedPageSize < 0 || header.UncompressedPageSize > maxPageBytes:
			return fmt.Errorf("page at offset %d claims %d bytes uncompressed", off, header.UncompressedPageSize)
		case count < 0 || count > maxPageValues:
			return fmt.Errorf("page at offset %d claims %d values", off, count)
		}
		if values += count; values > rows {
			return fmt.Errorf("pages hold more values than the row group's %d rows", rows)
		}
		off += n + int64(header.CompressedPageSize)
	}
	return nil
}

// readPageHeader reads the Thrift page header at off, checking its
// structure before decoding it. Headers are small, but statistics may carry
// long strings, so the read doubles until the header fits.
func readPageHeader(r io.ReaderAt, off, end int64) (format.PageHeader, int64, error) {
	var header format.PageHeader
	for want := int64(256); ; want *= 2 {
		buf := make([]byte, min(want, end-off))
		n, err := r.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return header, 0, err
		}
		buf = buf[:n]
		length, err := thriftStructLen(buf)
		if errors.Is(err, io.ErrUnexpectedEOF) && int64(len(buf)) < end-off {
			continue
		}
		if err != nil {
			return header, 0, err
		}
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), buf[:length], &header); err != nil {
			return header, 0, err
		}
		return header, int64(length), nil
	}
}

// readColumn decodes every value of one top-level column, row group after
// row group, naming the row of the first value decode refuses.
func readColumn[T any](f *parquet.File, col *parquet.Column, decode func(parquet.Value) (T, error)) ([]T, error) {
	// The footer's row count saves regrowing the slice; it is only a hint,
	// capped since a corrupt file may claim any count.
	out := make([]T, 0, min(max(f.NumRows(), 0), 1<<20))
	buf := make([]parquet.Value, 1024)
	for _, rg := range f.RowGroups() {
		chunks := rg.ColumnChunks()
		if col.Index() >= len(chunks) {
			return nil, fmt.Errorf("trace: corrupt Parquet file: a row group lacks column %q", col.Name())
		}
		var err error
		if out, err = readChunk(chunks[col.Index()], col.Name(), out, buf, decode); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readChunk[T any](chunk parquet.ColumnChunk, name string, out []T, buf []parquet.Value, decode func(parquet.Value) (T, error)) ([]T, error) {
	pages := chunk.Pages()
	defer pages.Close()
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("trace: column %q after row %d: %w", name, len(out), err)
		}
		out, err = readPage(page, name, out, buf, decode)
		parquet.Release(page)
		if err != nil {
			return nil, err
		}
	}
}

func readPage[T any](page parquet.Page, name string, out []T, buf []parquet.Value, decode func(parquet.Value) (T, error)) ([]T, error) {
	values := page.Values()
	for {
		n, err := values.ReadValues(buf)
		for _, v := range buf[:n] {
			row := len(out) + 1
			if v.IsNull() {
				return nil, fmt.Errorf("trace: row %d, column %q: null (a gap): %s", row, name, fillGap)
			}
			x, derr := decode(v)
			if derr != nil {
				return nil, fmt.Errorf("trace: row %d, column %q: %w", row, name, derr)
			}
			out = append(out, x)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("trace: column %q after row %d: %w", name, len(out), err)
		}
	}
}

// primitive refuses what is not one value per row: groups (structs, maps)
// and repeated columns (lists).
func primitive(col *parquet.Column) error {
	switch {
	case !col.Leaf():
		return fmt.Errorf("trace: column %q is a group (a struct, list or map), want one number or time per row", col.Name())
	case col.Repeated():
		return fmt.Errorf("trace: column %q is repeated, want one number or time per row", col.Name())
	}
	return nil
}

// valueDecoder returns how to turn a value of col into a number.
func valueDecoder(col *parquet.Column) (func(parquet.Value) (float64, error), error) {
	if err := primitive(col); err != nil {
		return nil, err
	}
	typ := col.Type()
	kind := typ.Kind()
	logical := typ.LogicalType()
	switch lt := logicalValue(logical).(type) {
	case *format.DecimalType:
		return decimalDecoder(kind, int(lt.Scale))
	case *format.IntType:
		if !lt.IsSigned && kind == parquet.Int32 {
			return func(v parquet.Value) (float64, error) { return float64(v.Uint32()), nil }, nil
		}
		if !lt.IsSigned && kind == parquet.Int64 {
			return func(v parquet.Value) (float64, error) { return float64(v.Uint64()), nil }, nil
		}
	case *format.StringType, *format.EnumType, nil:
	default:
		return nil, fmt.Errorf("trace: column %q is %s, not a number", col.Name(), logical)
	}
	switch kind {
	case parquet.Int32:
		return func(v parquet.Value) (float64, error) { return float64(v.Int32()), nil }, nil
	case parquet.Int64:
		return func(v parquet.Value) (float64, error) { return float64(v.Int64()), nil }, nil
	case parquet.Float:
		return func(v parquet.Value) (float64, error) { return finite(float64(v.Float())) }, nil
	case parquet.Double:
		return func(v parquet.Value) (float64, error) { return finite(v.Double()) }, nil
	case parquet.ByteArray:
		return func(v parquet.Value) (float64, error) { return parseValue(string(v.ByteArray())) }, nil
	}
	return nil, fmt.Errorf("trace: column %q is %s, not a number", col.Name(), kind)
}

// logicalValue is the logical type's variant, nil when there is none.
func logicalValue(lt *format.LogicalType) any {
	if lt == nil {
		return nil
	}
	return lt.Value
}

// decimalDecoder reads a DECIMAL: an unscaled integer, in a physical INT32,
// INT64, or big-endian two's complement bytes, times 10^-scale.
func decimalDecoder(kind parquet.Kind, scale int) (func(parquet.Value) (float64, error), error) {
	div := math.Pow10(scale)
	switch kind {
	case parquet.Int32:
		return func(v parquet.Value) (float64, error) { return float64(v.Int32()) / div, nil }, nil
	case parquet.Int64:
		return func(v parquet.Value) (float64, error) { return float64(v.Int64()) / div, nil }, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return func(v parquet.Value) (float64, error) {
			unscaled, _ := new(big.Float).SetInt(twosComplement(v.ByteArray())).Float64()
			return finite(unscaled / div)
		}, nil
	}
	return nil, fmt.Errorf("trace: DECIMAL stored as %s is not supported", kind)
}

// twosComplement reads a big-endian two's complement integer.
func twosComplement(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}

// julianUnixEpoch is the Julian day number of 1970-01-01, the day count
// INT96 timestamps (Impala, Hive, old Spark and pandas) start from.
const julianUnixEpoch = 2440588

// timeDecoder returns how to turn a value of col into a time. Times are in
// UTC, like the zoneless layouts a CSV time column has.
func timeDecoder(col *parquet.Column) (func(parquet.Value) (time.Time, error), error) {
	if err := primitive(col); err != nil {
		return nil, err
	}
	typ := col.Type()
	kind := typ.Kind()
	logical := typ.LogicalType()
	switch lt := logicalValue(logical).(type) {
	case *format.TimestampType:
		if kind != parquet.Int64 || lt.Unit.Value == nil {
			break
		}
		switch lt.Unit.Value.Duration() {
		case time.Millisecond:
			return func(v parquet.Value) (time.Time, error) { return time.UnixMilli(v.Int64()).UTC(), nil }, nil
		case time.Microsecond:
			return func(v parquet.Value) (time.Time, error) { return time.UnixMicro(v.Int64()).UTC(), nil }, nil
		case time.Nanosecond:
			return func(v parquet.Value) (time.Time, error) { return time.Unix(0, v.Int64()).UTC(), nil }, nil
		}
	case *format.DateType:
		if kind != parquet.Int32 {
			break
		}
		return func(v parquet.Value) (time.Time, error) {
			return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
		}, nil
	case *format.StringType, *format.EnumType, nil:
		switch kind {
		case parquet.ByteArray:
			return func(v parquet.Value) (time.Time, error) { return parseTime(string(v.ByteArray())) }, nil
		case parquet.Int96:
			return func(v parquet.Value) (time.Time, error) {
				i := v.Int96()
				nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
				days := int64(i[2]) - julianUnixEpoch
				return time.Unix(days*86400, nanos).UTC(), nil
			}, nil
		}
	}
	what := kind.String()
	if logical != nil && logical.Value != nil {
		what = logical.String()
	}
	return nil, fmt.Errorf("trace: column %q is %s, not a time (want TIMESTAMP, DATE, INT96, or text in RFC 3339 or YYYY-MM-DD[ hh:mm:ss]; give the time column as \"-\" to read none)", col.Name(), what)
}

// maxThriftDepth bounds the nesting of Thrift structures: Parquet's own go
// about six deep, and a corrupt file must not recurse without end.
const maxThriftDepth = 32

// thriftStructLen walks one Thrift compact-protocol struct at the start of b
// and returns its length in bytes, without decoding it. It refuses any
// list, map or string whose claimed length exceeds the bytes left, since
// each element takes at least one byte: a decoder that allocates claimed
// lengths then allocates no more than the input's size allows.
func thriftStructLen(b []byte) (int, error) {
	w := thriftWalker{b: b}
	if err := w.structure(0); err != nil {
		return 0, err
	}
	return w.off, nil
}

type thriftWalker struct {
	b   []byte
	off int
}

// Thrift compact protocol type codes.
const (
	thriftStop, thriftTrue, thriftFalse, thriftByte = 0, 1, 2, 3
	thriftI16, thriftI32, thriftI64, thriftDouble   = 4, 5, 6, 7
	thriftBinary, thriftList, thriftSet, thriftMap  = 8, 9, 10, 11
	thriftStruct, thriftUUID                        = 12, 13
)

func (w *thriftWalker) left() int { return len(w.b) - w.off }

func (w *thriftWalker) skip(n int) error {
	if n < 0 || n > w.left() {
		return io.ErrUnexpectedEOF
	}
	w.off += n
	return nil
}

func (w *thriftWalker) byte() (byte, error) {
	if w.left() < 1 {
		return 0, io.ErrUnexpectedEOF
	}
	w.off++
	return w.b[w.off-1], nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	x, n := binary.Uvarint(w.b[w.off:])
	switch {
	case n == 0:
		return 0, io.ErrUnexpectedEOF
	case n < 0:
		return 0, errors.New("varint overflows 64 bits")
	}
	w.off += n
	return x, nil
}

// length reads a size and checks that at least perItem bytes per item are
// left.
func (w *thriftWalker) length(what string, perItem int) (int, error) {
	n, err := w.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(w.left()/perItem) {
		return 0, fmt.Errorf("%s of %d claimed with %d bytes left", what, n, w.left())
	}
	return int(n), nil
}

func (w *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("structures nested more than %d deep", maxThriftDepth)
	}
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h&0x0f == thriftStop { // parquet-go, too, ends a struct whatever the id bits
			return nil
		}
		if h>>4 == 0 { // no field id delta: the id follows as a varint
			if _, err := w.uvarint(); err != nil {
				return err
			}
		}
		// A boolean field's value is its type code: no byte follows.
		if t := h & 0x0f; t != thriftTrue && t != thriftFalse {
			if err := w.value(t, depth); err != nil {
				return err
			}
		}
	}
}

// value skips one value of type t; inside a list or map a boolean is one
// byte, which value reads as thriftByte.
func (w *thriftWalker) value(t byte, depth int) error {
	switch t {
	case thriftTrue, thriftFalse, thriftByte:
		return w.skip(1)
	case thriftI16, thriftI32, thriftI64:
		_, err := w.uvarint()
		return err
	case thriftDouble:
		return w.skip(8)
	case thriftUUID:
		return w.skip(16)
	case thriftBinary:
		n, err := w.length("string", 1)
		if err != nil {
			return err
		}
		return w.skip(n)
	case thriftList, thriftSet:
		return w.list(depth)
	case thriftMap:
		return w.mapping(depth)
	case thriftStruct:
		return w.structure(depth + 1)
	}
	return fmt.Errorf("unknown Thrift type %d at byte %d", t, w.off)
}

func (w *thriftWalker) list(depth int) error {
	h, err := w.byte()
	if err != nil {
		return err
	}
	n, elem := int(h>>4), h&0x0f
	if n == 0x0f {
		if n, err = w.length("list", 1); err != nil {
			return err
		}
	}
	// Elements are read only when there are some: writers put any type
	// code, even 0, on an empty list, and parquet-go accepts it.
	for range n {
		if err := w.value(elem, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *thriftWalker) mapping(depth int) error {
	n, err := w.length("map", 2)
	if err != nil || n == 0 {
		return err
	}
	kv, err := w.byte()
	if err != nil {
		return err
	}
	for range n {
		if err := w.value(kv>>4, depth+1); err != nil {
			return err
		}
		if err := w.value(kv&0x0f, depth+1); err != nil {
			return err
		}
	}
	return nil
}
