// Package trace reads the traces the Learning Plane trains and evaluates on:
// a numeric column of a CSV or Parquet time series (the Prophet examples,
// exports of a TSDB, a data scientist's pandas frame), and the Azure
// Functions 2019 invocation and memory tables.
//
// The standard library's encoding/csv does the CSV parsing and
// github.com/parquet-go/parquet-go the Parquet decoding (a columnar format
// with compression and encodings is no job to write by hand); this package
// only checks that what it reads is a usable series and says where it is
// not (row and column), since a forecaster fed a silent gap is wrong in
// ways nobody notices.
package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Series is one equally spaced numeric series read from a CSV or Parquet
// file.
type Series struct {
	// Name is the value column's header.
	Name string
	// Times are the parsed time column, or nil when the file has none.
	Times  []time.Time
	Values []float64
}

// timeLayouts are the time formats a time column may use.
var timeLayouts = []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

// timeColumnNames are headers taken to be the time column when none is
// named: Prophet's "ds" and the usual suspects.
var timeColumnNames = []string{"ds", "time", "timestamp", "date", "datetime"}

// SeriesOptions say which columns of a CSV or Parquet file to read.
type SeriesOptions struct {
	// Column is the value column's header; empty means the last column that
	// is not the time column.
	Column string
	// TimeColumn is the time column's header; empty means the first header
	// in timeColumnNames, if any; "-" means none.
	TimeColumn string
}

// ReadSeriesFile reads a series from a file: Parquet when its name ends in
// ".parquet" (any case), otherwise CSV with a header row. Both pick columns
// by the same rules (SeriesOptions) and refuse gaps the same way.
func ReadSeriesFile(path string, opts SeriesOptions) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return Series{}, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	var s Series
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		var info os.FileInfo
		if info, err = f.Stat(); err != nil {
			return Series{}, fmt.Errorf("trace: %w", err)
		}
		s, err = ReadParquet(f, info.Size(), opts)
	} else {
		s, err = ReadSeries(f, opts)
	}
	if err != nil {
		return Series{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ReadSeries reads a series from CSV with a header row. An empty or
// non-numeric value, NaN, or an unparsable time is an error naming its row
// (1-based, the header being row 1): the caller decides how to fill gaps,
// this package does not guess.
func ReadSeries(r io.Reader, opts SeriesOptions) (Series, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Series{}, errors.New("trace: empty file: want a header row")
	}
	if err != nil {
		return Series{}, fmt.Errorf("trace: header: %w", err)
	}
	header = append([]string(nil), header...)
	timeCol, valueCol, err := pickColumns(header, opts)
	if err != nil {
		return Series{}, err
	}
	s := Series{Name: header[valueCol]}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Series{}, fmt.Errorf("trace: row %d: %w", row, err)
		}
		v, err := parseValue(rec[valueCol])
		if err != nil {
			return Series{}, fmt.Errorf("trace: row %d, column %q: %w", row, header[valueCol], err)
		}
		s.Values = append(s.Values, v)
		if timeCol >= 0 {
			ts, err := parseTime(rec[timeCol])
			if err != nil {
				return Series{}, fmt.Errorf("trace: row %d, column %q: %w", row, header[timeCol], err)
			}
			s.Times = append(s.Times, ts)
		}
	}
	if len(s.Values) == 0 {
		return Series{}, errors.New("trace: no data rows after the header")
	}
	return s, nil
}

func pickColumns(header []string, opts SeriesOptions) (timeCol, valueCol int, err error) {
	index := func(name string) int {
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return i
			}
		}
		return -1
	}
	timeCol = -1
	switch opts.TimeColumn {
	case "-":
	case "":
		for _, name := range timeColumnNames {
			if i := index(name); i >= 0 {
				timeCol = i
				break
			}
		}
	default:
		if timeCol = index(opts.TimeColumn); timeCol < 0 {
			return 0, 0, fmt.Errorf("trace: no time column %q (columns: %s)", opts.TimeColumn, strings.Join(header, ", "))
		}
	}
	if opts.Column != "" {
		if valueCol = index(opts.Column); valueCol < 0 {
			return 0, 0, fmt.Errorf("trace: no column %q (columns: %s)", opts.Column, strings.Join(header, ", "))
		}
		return timeCol, valueCol, nil
	}
	for i := len(header) - 1; i >= 0; i-- {
		if i != timeCol {
			return timeCol, i, nil
		}
	}
	return 0, 0, fmt.Errorf("trace: no value column besides the time column %q", header[timeCol])
}

func parseValue(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty value (a gap): " + fillGap)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return finite(v)
}

// fillGap ends every error about a missing value: how to fill a gap is the
// caller's decision, never this package's guess.
const fillGap = "fill or drop it before forecasting"

// finite refuses NaN and infinities, which no forecaster can fit.
func finite(v float64) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value is %v: %s", v, fillGap)
	}
	return v, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q (want RFC 3339 or YYYY-MM-DD[ hh:mm:ss])", s)
}
