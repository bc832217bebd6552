package trace

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// update rewrites the Parquet files of testdata/ from testdataFiles:
// go test ./learning/trace -run TestParquetTestdata -update
var update = flag.Bool("update", false, "rewrite testdata/*.parquet")

// encodeParquet writes rows as a Parquet file with parquet-go's writer,
// starting a new row group after every groupRows rows (0: one group).
func encodeParquet[T any](t testing.TB, rows []T, groupRows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Snappy))
	if groupRows <= 0 {
		groupRows = len(rows)
	}
	for start := 0; start < len(rows); start += groupRows {
		if _, err := w.Write(rows[start:min(start+groupRows, len(rows))]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readParquetBytes(b []byte, opts SeriesOptions) (Series, error) {
	return ReadParquet(bytes.NewReader(b), int64(len(b)), opts)
}

// sameSeries says how two series differ: name, length, a value's bits, or a
// time's instant or location.
func sameSeries(a, b Series) error {
	if a.Name != b.Name {
		return fmt.Errorf("names %q and %q", a.Name, b.Name)
	}
	if len(a.Values) != len(b.Values) || len(a.Times) != len(b.Times) {
		return fmt.Errorf("%d values and %d times vs %d and %d", len(a.Values), len(a.Times), len(b.Values), len(b.Times))
	}
	for i := range a.Values {
		if math.Float64bits(a.Values[i]) != math.Float64bits(b.Values[i]) {
			return fmt.Errorf("value %d: %v vs %v", i, a.Values[i], b.Values[i])
		}
	}
	for i := range a.Times {
		if !a.Times[i].Equal(b.Times[i]) || a.Times[i].Location() != b.Times[i].Location() {
			return fmt.Errorf("time %d: %v vs %v", i, a.Times[i], b.Times[i])
		}
	}
	return nil
}

var day0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// Row types written by the tests, as a pandas frame would hold them.
type (
	timeDouble struct {
		DS time.Time `parquet:"ds,timestamp(millisecond)"`
		Y  float64   `parquet:"y"`
	}
	// Dates are written as int32 days: parquet-go v0.32.0's GenericWriter
	// writes a time.Time with the date tag as its Unix nanoseconds cut to
	// 32 bits (a writer bug; its reader and ours are right).
	dateInt64 struct {
		Date  int32 `parquet:"date,date"`
		Count int64 `parquet:"count"`
	}
	nullableDouble struct {
		Timestamp time.Time `parquet:"timestamp,timestamp(nanosecond)"`
		Y         *float64  `parquet:"y,optional"`
	}
	textColumns struct {
		Time  string `parquet:"time"`
		Value string `parquet:"value"`
	}
)

func float(v float64) *float64 { return &v }

// days is t as a Parquet DATE: days since 1970-01-01.
func days(t time.Time) int32 { return int32(t.Unix() / 86400) }

func TestReadParquetTimestampAndDouble(t *testing.T) {
	var rows []timeDouble
	for i := range 10 {
		rows = append(rows, timeDouble{DS: day0.Add(time.Duration(i) * time.Hour), Y: float64(i) + 0.25})
	}
	s, err := readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "y" || len(s.Values) != 10 || len(s.Times) != 10 {
		t.Fatalf("got %q with %d values, %d times", s.Name, len(s.Values), len(s.Times))
	}
	for i, r := range rows {
		if s.Values[i] != r.Y || !s.Times[i].Equal(r.DS) || s.Times[i].Location() != time.UTC {
			t.Fatalf("row %d: got %v at %v, want %v at %v", i+1, s.Values[i], s.Times[i], r.Y, r.DS)
		}
	}
}

// Timestamps of every unit, adjusted to UTC (a tz-aware pandas column) or
// not (a naive one), read as the instant a CSV time of the same text gives.
func TestReadParquetTimestampUnits(t *testing.T) {
	at := time.Date(2023, 7, 9, 13, 45, 30, 123_000_000, time.UTC)
	for _, unit := range []parquet.TimeUnit{parquet.Millisecond, parquet.Microsecond, parquet.Nanosecond} {
		for _, utc := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/utc=%v", unit.TimeUnit(), utc), func(t *testing.T) {
				schema := parquet.NewSchema("frame", parquet.Group{
					"ts": parquet.TimestampAdjusted(unit, utc),
					"y":  parquet.Leaf(parquet.DoubleType),
				})
				var buf bytes.Buffer
				w := parquet.NewWriter(&buf, schema)
				ticks := at.UnixNano() / int64(unit.Duration())
				// Columns are ordered by name in a Group: ts, then y.
				row := parquet.Row{parquet.Int64Value(ticks).Level(0, 0, 0), parquet.DoubleValue(7).Level(0, 0, 1)}
				if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				s, err := readParquetBytes(buf.Bytes(), SeriesOptions{TimeColumn: "ts"})
				if err != nil {
					t.Fatal(err)
				}
				if !s.Times[0].Equal(at) || s.Times[0].Location() != time.UTC || s.Values[0] != 7 {
					t.Errorf("got %v at %v, want 7 at %v", s.Values[0], s.Times[0], at)
				}
			})
		}
	}
}

func TestReadParquetInt64AndDate(t *testing.T) {
	rows := []dateInt64{{days(day0), 3}, {days(day0) + 1, -4}, {days(day0) + 2, 1 << 40}}
	s, err := readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "count" || len(s.Values) != 3 || s.Values[1] != -4 || s.Values[2] != 1<<40 {
		t.Fatalf("got %+v", s)
	}
	want, err := ReadSeries(strings.NewReader("date,count\n2024-03-01,3\n2024-03-02,-4\n2024-03-03,1099511627776\n"), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSeries(s, want); err != nil {
		t.Errorf("Parquet and CSV differ: %v", err)
	}
}

func TestReadParquetNullAndNaNAreErrorsNamingTheRow(t *testing.T) {
	rows := []nullableDouble{{day0, float(1)}, {day0.Add(time.Minute), float(2)}, {day0.Add(2 * time.Minute), nil}}
	_, err := readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), `row 3, column "y": null`) {
		t.Errorf("null: error %v, want it to name row 3 and column y", err)
	}
	rows[2].Y = float(math.NaN())
	_, err = readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), `row 3, column "y": value is NaN`) {
		t.Errorf("NaN: error %v, want it to name row 3 and column y", err)
	}
	// An optional column without a null is a series like any other.
	rows[2].Y = float(3)
	s, err := readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err != nil || len(s.Values) != 3 || s.Values[2] != 3 || !s.Times[2].Equal(rows[2].Timestamp) {
		t.Errorf("no null: %+v, %v", s, err)
	}
}

func TestReadParquetRowGroups(t *testing.T) {
	var rows []nullableDouble
	for i := range 10 {
		rows = append(rows, nullableDouble{day0.Add(time.Duration(i) * time.Minute), float(float64(i * i))})
	}
	file := encodeParquet(t, rows, 6)
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.RowGroups()); n != 2 {
		t.Fatalf("the test wrote %d row groups, want 2", n)
	}
	s, err := readParquetBytes(file, SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if s.Values[i] != float64(i*i) || !s.Times[i].Equal(rows[i].Timestamp) {
			t.Fatalf("row %d: %v at %v", i+1, s.Values[i], s.Times[i])
		}
	}
	// Rows are counted across row groups: the 8th row is the second group's 2nd.
	rows[7].Y = nil
	_, err = readParquetBytes(encodeParquet(t, rows, 6), SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), "row 8,") {
		t.Errorf("error %v, want it to name row 8", err)
	}
}

func TestReadParquetTextColumnsUseTheCSVLayouts(t *testing.T) {
	rows := []textColumns{{"2020-01-01 10:00:00", " 1.5"}, {"2020-01-01T11:00:00Z", "2"}, {"2020-01-01T12:00:00+01:00", "-3e2"}}
	s, err := readParquetBytes(encodeParquet(t, rows, 0), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadSeries(strings.NewReader("time,value\n2020-01-01 10:00:00, 1.5\n2020-01-01T11:00:00Z,2\n2020-01-01T12:00:00+01:00,-3e2\n"), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSeries(s, want); err != nil {
		t.Errorf("Parquet and CSV differ: %v", err)
	}
	for _, c := range []struct {
		row  textColumns
		want string
	}{
		{textColumns{"yesterday", "1"}, `row 2, column "time": not a time`},
		{textColumns{"2020-01-01", "abc"}, `row 2, column "value": not a number`},
		{textColumns{"2020-01-01", ""}, `row 2, column "value": empty value (a gap)`},
		{textColumns{"2020-01-01", "Inf"}, `row 2, column "value": value is +Inf`},
	} {
		_, err := readParquetBytes(encodeParquet(t, []textColumns{rows[0], c.row}, 0), SeriesOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to say %q", c.row, err, c.want)
		}
	}
}

func TestReadParquetNumericTypes(t *testing.T) {
	type numbers struct {
		I32  int32   `parquet:"i32"`
		U32  uint32  `parquet:"u32"`
		U64  uint64  `parquet:"u64"`
		F32  float32 `parquet:"f32"`
		Dec  int64   `parquet:"dec,decimal(2:10)"`
		Dec4 int32   `parquet:"dec4,decimal(3:9)"`
	}
	file := encodeParquet(t, []numbers{{-7, math.MaxUint32, math.MaxUint64, 0.5, -12345, 5}}, 0)
	want := map[string]float64{"i32": -7, "u32": math.MaxUint32, "u64": math.MaxUint64, "f32": 0.5, "dec": -123.45, "dec4": 0.005}
	for column, v := range want {
		s, err := readParquetBytes(file, SeriesOptions{Column: column})
		if err != nil {
			t.Errorf("%s: %v", column, err)
			continue
		}
		if s.Values[0] != v || s.Times != nil {
			t.Errorf("%s: got %v (times %v), want %v", column, s.Values[0], s.Times, v)
		}
	}
}

func TestReadParquetColumnChoice(t *testing.T) {
	type frame struct {
		DS    time.Time `parquet:"DS,timestamp(microsecond)"`
		CPU   float64   `parquet:"cpu"`
		Hits  int64     `parquet:"hits"`
		Epoch int64     `parquet:"epoch"`
	}
	file := encodeParquet(t, []frame{{day0, 0.5, 10, 1709251200}}, 0)
	cases := []struct {
		opts     SeriesOptions
		name     string
		hasTimes bool
	}{
		{SeriesOptions{}, "epoch", true}, // the last column that is not the time column
		{SeriesOptions{Column: "CPU"}, "cpu", true},
		{SeriesOptions{Column: "hits", TimeColumn: "-"}, "hits", false},
		{SeriesOptions{Column: "hits", TimeColumn: "ds"}, "hits", true},
	}
	for _, c := range cases {
		s, err := readParquetBytes(file, c.opts)
		if err != nil {
			t.Errorf("%+v: %v", c.opts, err)
			continue
		}
		if s.Name != c.name || (s.Times != nil) != c.hasTimes {
			t.Errorf("%+v: read %q with times %v, want %q with times %v", c.opts, s.Name, s.Times != nil, c.name, c.hasTimes)
		}
	}
}

func TestReadParquetErrorsNameTheProblem(t *testing.T) {
	type withList struct {
		DS int32     `parquet:"ds,date"`
		Y  []float64 `parquet:"y,list"`
	}
	type withBool struct {
		Y bool `parquet:"y"`
	}
	type withTimeOfDay struct {
		DS int64   `parquet:"ds"`
		Y  float64 `parquet:"y"`
	}
	type onlyTime struct {
		DS int32 `parquet:"ds,date"`
	}
	timeDoubleFile := encodeParquet(t, []timeDouble{{day0, 1}}, 0)
	cases := []struct {
		file []byte
		opts SeriesOptions
		want string
	}{
		{timeDoubleFile, SeriesOptions{Column: "z"}, `no column "z" (columns: ds, y)`},
		{timeDoubleFile, SeriesOptions{TimeColumn: "when"}, `no time column "when"`},
		{timeDoubleFile, SeriesOptions{Column: "ds", TimeColumn: "-"}, `column "ds" is TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS), not a number`},
		{timeDoubleFile, SeriesOptions{Column: "y", TimeColumn: "y"}, `column "y" is DOUBLE, not a time`},
		{encodeParquet(t, []withTimeOfDay{{1, 2}}, 0), SeriesOptions{}, `column "ds" is INT(64,true), not a time`},
		{encodeParquet(t, []withList{{days(day0), []float64{1}}}, 0), SeriesOptions{}, `column "y" is a group`},
		{encodeParquet(t, []withBool{{true}}, 0), SeriesOptions{}, `column "y" is BOOLEAN, not a number`},
		{encodeParquet(t, []onlyTime{{days(day0)}}, 0), SeriesOptions{}, `no value column besides the time column "ds"`},
		{encodeParquet(t, []timeDouble{}, 0), SeriesOptions{}, "no data rows"},
	}
	for _, c := range cases {
		_, err := readParquetBytes(c.file, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to say %q", c.opts, err, c.want)
		}
	}
}

// Every truncation of a valid file, and a file that is not Parquet at all,
// is an error that says so, never a panic or a partial series.
func TestReadParquetRejectsCorruptFiles(t *testing.T) {
	var rows []nullableDouble
	for i := range 20 {
		rows = append(rows, nullableDouble{day0.Add(time.Duration(i) * time.Minute), float(float64(i))})
	}
	file := encodeParquet(t, rows, 7)
	for n := range len(file) {
		_, err := readParquetBytes(file[:n], SeriesOptions{})
		if err == nil || !strings.Contains(err.Error(), "Parquet") {
			t.Fatalf("file cut to %d of %d bytes: error %v, want one about the Parquet file", n, len(file), err)
		}
	}
	cases := []struct {
		file []byte
		want string
	}{
		{[]byte("ds,y\n2020-01-01,1\n"), "not a Parquet file: it ends in"},
		{[]byte("PAR1"), "not a Parquet file: 4 bytes is too short"},
		{append([]byte("PAR1\x00\x00\x00\x00"), "\xff\xff\xff\x7fPAR1"...), "footer of 2147483647 bytes in a file of 16"},
		{append([]byte("PAR1\x00\x00\x00\x00"), "\x04\x00\x00\x00PAR1"...), "not a readable Parquet file"},
	}
	for _, c := range cases {
		_, err := readParquetBytes(c.file, SeriesOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to say %q", c.file, err, c.want)
		}
	}
	// A corrupted byte anywhere is an error or a series, never a panic; the
	// recover in ReadParquet turns the library's panics into errors, so this
	// also checks that such errors say the file is corrupt.
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0xff
		if _, err := readParquetBytes(bad, SeriesOptions{}); err != nil && !strings.HasPrefix(err.Error(), "trace: ") {
			t.Fatalf("byte %d flipped: error %q lacks the package prefix", i, err)
		}
	}
}

// A page header claiming more than the chunk holds or than any writer
// makes is refused before parquet-go allocates what it claims.
func TestCheckPagesRefusesImpossibleHeaders(t *testing.T) {
	page := func(h format.PageHeader, body int) []byte {
		b, err := thrift.Marshal(new(thrift.CompactProtocol), h)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, make([]byte, body)...)
	}
	data := func(uncompressed, compressed, values int32) format.PageHeader {
		return format.PageHeader{Type: format.DataPage, UncompressedPageSize: uncompressed, CompressedPageSize: compressed,
			DataPageHeader: thrift.New(format.DataPageHeader{NumValues: values})}
	}
	cases := []struct {
		chunk []byte
		rows  int64
		want  string
	}{
		{page(data(10, 10, 5), 10), 5, ""},
		{append(page(data(10, 10, 5), 10), page(data(10, 10, 5), 10)...), 10, ""},
		{page(data(10, 1<<30, 5), 10), 5, "claims 1073741824 bytes, the chunk has 10 left"},
		{page(data(1<<30, 10, 5), 10), 5, "claims 1073741824 bytes uncompressed"},
		{page(data(10, 10, 1<<30), 10), 1 << 30, "claims 1073741824 values"},
		{append(page(data(10, 10, 5), 10), page(data(10, 10, 5), 10)...), 9, "more values than the row group's 9 rows"},
		{page(data(10, 10, 5), 10)[:5], 5, "unexpected EOF"},
	}
	for i, c := range cases {
		file := append([]byte("PAR1"), c.chunk...)
		meta := format.ColumnMetaData{DataPageOffset: 4, TotalCompressedSize: int64(len(c.chunk))}
		err := checkPages(bytes.NewReader(file), int64(len(file)), meta, c.rows)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("case %d: error %v, want %q", i, err, c.want)
		}
	}
	meta := format.ColumnMetaData{DataPageOffset: 4, TotalCompressedSize: 100}
	if err := checkPages(bytes.NewReader(make([]byte, 50)), 50, meta, 1); err == nil || !strings.Contains(err.Error(), "outside the file") {
		t.Errorf("chunk past the end: error %v", err)
	}
}

func TestThriftStructLen(t *testing.T) {
	header, err := thrift.Marshal(new(thrift.CompactProtocol), format.PageHeader{Type: format.DataPage, CRC: 7,
		DataPageHeader: thrift.New(format.DataPageHeader{NumValues: 3, Statistics: format.Statistics{MinValue: []byte("a"), MaxValue: []byte("z")}})})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := thriftStructLen(append(header, "trailing"...)); n != len(header) || err != nil {
		t.Errorf("page header: length %d, %v; want %d", n, err, len(header))
	}
	cases := []struct {
		b    []byte
		want string
	}{
		// field 1 is a list of 2^31-1 structs, in 7 bytes.
		{[]byte{0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07}, "list of 2147483647 claimed with 0 bytes left"},
		// field 1 is a string of 1000 bytes, with 1 there.
		{[]byte{0x18, 0xe8, 0x07, 'x'}, "string of 1000 claimed with 1 bytes left"},
		{[]byte{0x1b, 0xe8, 0x07, 0x55}, "map of 1000 claimed"},
		{bytes.Repeat([]byte{0x1c}, 100), "nested more than 32 deep"},
		{[]byte{0x1e}, "unknown Thrift type 14"},
		{[]byte{0x15}, "unexpected EOF"},
	}
	for _, c := range cases {
		if _, err := thriftStructLen(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("% x: error %v, want %q", c.b, err, c.want)
		}
	}
}

func TestReadSeriesFileDispatchesOnExtension(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "load.csv")
	if err := os.WriteFile(csvPath, []byte("ds,y\n2024-03-01,1\n2024-03-02,2.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := []timeDouble{{day0, 1}, {day0.AddDate(0, 0, 1), 2.5}}
	for _, name := range []string{"load.parquet", "LOAD.PARQUET"} {
		if err := os.WriteFile(filepath.Join(dir, name), encodeParquet(t, rows, 0), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := ReadSeriesFile(csvPath, SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"load.parquet", "LOAD.PARQUET"} {
		got, err := ReadSeriesFile(filepath.Join(dir, name), SeriesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sameSeries(got, want); err != nil {
			t.Errorf("%s and load.csv differ: %v", name, err)
		}
	}
	// A CSV file named .parquet is read as Parquet, and the error names it.
	misnamed := filepath.Join(dir, "misnamed.parquet")
	if err := os.WriteFile(misnamed, []byte("ds,y\n2024-03-01,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadSeriesFile(misnamed, SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), misnamed+": trace: not a Parquet file") {
		t.Errorf("error %v, want it to name %s and say it is not Parquet", err, misnamed)
	}
	// Errors in a row name the file, the row and the column.
	nullPath := filepath.Join(dir, "gap.parquet")
	if err := os.WriteFile(nullPath, encodeParquet(t, []nullableDouble{{day0, nil}}, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadSeriesFile(nullPath, SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), nullPath+`: trace: row 1, column "y": null`) {
		t.Errorf("error %v, want it to name the file, row 1 and column y", err)
	}
}

// The Prophet example read from its CSV and from the same frame written as
// Parquet (ds as a DATE, then as a TIMESTAMP) is one series.
func TestParquetMatchesCSVOnPeytonManning(t *testing.T) {
	path := filepath.Join(sharedTraces, "example_wp_log_peyton_manning.csv")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared data not here: %v", err)
	}
	want, err := ReadSeriesFile(path, SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type asDate struct {
		DS int32   `parquet:"ds,date"`
		Y  float64 `parquet:"y"`
	}
	var dates []asDate
	var stamps []timeDouble
	for i, v := range want.Values {
		dates = append(dates, asDate{days(want.Times[i]), v})
		stamps = append(stamps, timeDouble{want.Times[i], v})
	}
	dir := t.TempDir()
	for name, file := range map[string][]byte{"date.parquet": encodeParquet(t, dates, 1000), "timestamp.parquet": encodeParquet(t, stamps, 0)} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSeriesFile(p, SeriesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sameSeries(got, want); err != nil {
			t.Errorf("%s and the CSV differ: %v", name, err)
		}
		if len(got.Values) != 2905 {
			t.Errorf("%s: %d rows, want 2905", name, len(got.Values))
		}
	}
}

// INT96 timestamps are what Impala, Hive and old Spark and pandas wrote.
func TestReadParquetInt96Timestamps(t *testing.T) {
	type legacy struct {
		DS deprecated.Int96 `parquet:"ds"`
		Y  float64          `parquet:"y"`
	}
	at := time.Date(2009, 3, 1, 0, 1, 0, 500, time.UTC)
	nanos := uint64(at.Sub(at.Truncate(24 * time.Hour)))
	julian := uint32(at.Unix()/86400 + julianUnixEpoch)
	file := encodeParquet(t, []legacy{{deprecated.Int96{uint32(nanos), uint32(nanos >> 32), julian}, 1}}, 0)
	s, err := readParquetBytes(file, SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Times[0].Equal(at) {
		t.Errorf("got %v, want %v", s.Times[0], at)
	}
}

// parquetTestdataDir is the testdata directory of the parquet-go module:
// files written by other writers (Impala, parquet-mr, Arrow) that the
// Apache parquet-testing project collects. Reading them in place, rather
// than copying them here, keeps their provenance plain.
func parquetTestdataDir(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/parquet-go/parquet-go").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("parquet-go's module directory not found: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("parquet-go's testdata not here: %v", err)
	}
	return dir
}

func TestReadParquetFilesOfOtherWriters(t *testing.T) {
	dir := parquetTestdataDir(t)
	// Impala: INT96 timestamps, plain and dictionary encoded.
	s, err := ReadSeriesFile(filepath.Join(dir, "alltypes_plain.parquet"), SeriesOptions{Column: "double_col", TimeColumn: "timestamp_col"})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2009, 3, 1, 0, 0, 0, 0, time.UTC)
	if len(s.Values) != 8 || s.Values[1] != 10.1 || !s.Times[0].Equal(first) {
		t.Errorf("alltypes_plain: %d values, second %v, first time %v (want 8, 10.1, %v)", len(s.Values), s.Values[1], s.Times[0], first)
	}
	// DECIMAL(_, 2) holding 1..24, as INT32, INT64, fixed-length and
	// variable-length bytes.
	for _, name := range []string{"int32_decimal.parquet", "int64_decimal.parquet", "fixed_length_decimal.parquet", "fixed_length_decimal_legacy.parquet", "byte_array_decimal.parquet"} {
		s, err := ReadSeriesFile(filepath.Join(dir, name), SeriesOptions{Column: "value"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for i, v := range s.Values {
			if v != float64(i+1) {
				t.Errorf("%s: row %d is %v, want %d", name, i+1, v, i+1)
				break
			}
		}
	}
	// A real export: a DATE column, taken as the time column, and nullable
	// DECIMAL counts with a gap at row 43.
	_, err = ReadSeriesFile(filepath.Join(dir, "covid.snappy.parquet"), SeriesOptions{Column: "CASES"})
	if err == nil || !strings.Contains(err.Error(), `row 43, column "CASES": null`) {
		t.Errorf("covid CASES: error %v, want the null of row 43", err)
	}
	// A NULL-typed value column.
	_, err = ReadSeriesFile(filepath.Join(dir, "null_columns.parquet"), SeriesOptions{Column: "value"})
	if err == nil || !strings.Contains(err.Error(), `column "value" is NULL, not a number`) {
		t.Errorf("null_columns: error %v", err)
	}
}

// testdataFiles are the small files of testdata/: regression inputs for the
// reader and seeds of FuzzReadParquet.
var testdataFiles = map[string]func(t testing.TB) []byte{
	"hourly_two_groups.parquet": func(t testing.TB) []byte {
		var rows []timeDouble
		for i := range 48 {
			rows = append(rows, timeDouble{day0.Add(time.Duration(i) * time.Hour), float64(i%24) + 0.5})
		}
		return encodeParquet(t, rows, 24)
	},
	"daily_date_int64.parquet": func(t testing.TB) []byte {
		var rows []dateInt64
		for i := range 14 {
			rows = append(rows, dateInt64{days(day0) + int32(i), int64(100 + i)})
		}
		return encodeParquet(t, rows, 0)
	},
	"nullable_with_gap.parquet": func(t testing.TB) []byte {
		return encodeParquet(t, []nullableDouble{{day0, float(1)}, {day0.Add(time.Minute), nil}, {day0.Add(2 * time.Minute), float(3)}}, 0)
	},
	"text_columns.parquet": func(t testing.TB) []byte {
		return encodeParquet(t, []textColumns{{"2020-01-01", "1"}, {"2020-01-02", "2.5"}}, 0)
	},
}

// The checked-in files still read as they did when written, so a change
// of parquet-go's reader that breaks them shows here.
func TestParquetTestdata(t *testing.T) {
	if *update {
		for name, encode := range testdataFiles {
			if err := os.WriteFile(filepath.Join("testdata", name), encode(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]struct {
		name  string
		n     int
		last  float64
		error string
	}{
		"hourly_two_groups.parquet": {"y", 48, 23.5, ""},
		"daily_date_int64.parquet":  {"count", 14, 113, ""},
		"nullable_with_gap.parquet": {"", 0, 0, `row 2, column "y": null`},
		"text_columns.parquet":      {"value", 2, 2.5, ""},
	}
	for name, w := range want {
		s, err := ReadSeriesFile(filepath.Join("testdata", name), SeriesOptions{})
		if w.error != "" {
			if err == nil || !strings.Contains(err.Error(), w.error) {
				t.Errorf("%s: error %v, want %q", name, err, w.error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Name != w.name || len(s.Values) != w.n || len(s.Times) != w.n || s.Values[w.n-1] != w.last {
			t.Errorf("%s: %q, %d values, %d times, last %v; want %q, %d, last %v", name, s.Name, len(s.Values), len(s.Times), s.Values[len(s.Values)-1], w.name, w.n, w.last)
		}
	}
}

// FuzzReadParquet feeds the reader mutations of valid files: it must return
// a series or an error, never panic, hang or run out of memory.
func FuzzReadParquet(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readParquetBytes(b, SeriesOptions{})
		if err != nil {
			return
		}
		if len(s.Values) == 0 || (s.Times != nil && len(s.Times) != len(s.Values)) {
			t.Fatalf("no error but %d values and %d times", len(s.Values), len(s.Times))
		}
		for i, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
	})
}

// BenchmarkReadSeries100k reads one 100,000-row series (a timestamp and a
// double) from CSV and from Parquet (snappy, one row group).
func BenchmarkReadSeries100k(b *testing.B) {
	const n = 100_000
	rows := make([]timeDouble, n)
	var csv strings.Builder
	csv.WriteString("ds,y\n")
	for i := range rows {
		rows[i] = timeDouble{day0.Add(time.Duration(i) * time.Minute), float64(i%1440) * 1.5}
		fmt.Fprintf(&csv, "%s,%v\n", rows[i].DS.Format(time.RFC3339), rows[i].Y)
	}
	dir := b.TempDir()
	files := map[string][]byte{"series.csv": []byte(csv.String()), "series.parquet": encodeParquet(b, rows, 0)}
	for _, name := range []string{"series.csv", "series.parquet"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimPrefix(filepath.Ext(name), "."), func(b *testing.B) {
			b.SetBytes(int64(len(files[name])))
			for b.Loop() {
				s, err := ReadSeriesFile(path, SeriesOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Values) != n {
					b.Fatal(errors.New("short read"))
				}
			}
			b.ReportMetric(float64(len(files[name])), "file-bytes")
		})
	}
}
