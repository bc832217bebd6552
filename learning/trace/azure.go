package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Function is one serverless function of the Azure Functions 2019 trace:
// its identity, its per-minute invocation counts and its memory.
type Function struct {
	Owner, App, Hash string
	Trigger          string
	// Counts[i] is the number of invocations in minute FirstMinute+i.
	Counts []int
	// MemoryMB is the average allocated memory (AverageAllocatedMb); 0 when
	// the memory file has no row for the function.
	MemoryMB float64
}

// Invocations is the total number of invocations of f.
func (f Function) Invocations() int {
	n := 0
	for _, c := range f.Counts {
		n += c
	}
	return n
}

// Azure is the Azure Functions trace: functions with their counts, over
// Minutes minutes starting at the trace's minute-of-day FirstMinute.
type Azure struct {
	FirstMinute int
	Minutes     int
	Functions   []Function
}

// Azure trace file name patterns, as in shared/data/traces/azure-functions.
const (
	azureInvocationsGlob = "invocations_per_function_md*.csv"
	azureMemoryGlob      = "memory_per_function*.csv"
)

// ReadAzureDir reads the invocation table and, if present, the memory table
// from a directory holding the Azure sample.
func ReadAzureDir(dir string) (*Azure, error) {
	invPath, err := onlyMatch(dir, azureInvocationsGlob)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(invPath)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	az, err := ReadAzureInvocations(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invPath, err)
	}
	memPath, err := onlyMatch(dir, azureMemoryGlob)
	if err != nil {
		return az, nil // memory is optional: wasted memory then counts 0 MB
	}
	mf, err := os.Open(memPath)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer mf.Close()
	mem, err := ReadAzureMemory(mf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", memPath, err)
	}
	for i := range az.Functions {
		az.Functions[i].MemoryMB = mem[az.Functions[i].Hash]
	}
	return az, nil
}

func onlyMatch(dir, pattern string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return "", fmt.Errorf("trace: %w", err)
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("trace: no file %s in %s", pattern, dir)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("trace: %d files match %s in %s, want one", len(matches), pattern, dir)
}

// azureFixedColumns are the columns before the minute columns.
var azureFixedColumns = []string{"HashOwner", "HashApp", "HashFunction", "Trigger"}

// ReadAzureInvocations reads an invocations_per_function_md table: the
// fixed columns, then one column per minute labelled with consecutive
// minute numbers.
func ReadAzureInvocations(r io.Reader) (*Azure, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("trace: empty invocations file")
	}
	if err != nil {
		return nil, fmt.Errorf("trace: invocations header: %w", err)
	}
	if len(header) <= len(azureFixedColumns) {
		return nil, fmt.Errorf("trace: invocations header has %d columns, want %s and minute columns", len(header), strings.Join(azureFixedColumns, ","))
	}
	for i, name := range azureFixedColumns {
		if header[i] != name {
			return nil, fmt.Errorf("trace: invocations column %d is %q, want %q", i+1, header[i], name)
		}
	}
	az := &Azure{Minutes: len(header) - len(azureFixedColumns)}
	for i, label := range header[len(azureFixedColumns):] {
		minute, err := strconv.Atoi(label)
		if err != nil {
			return nil, fmt.Errorf("trace: invocations column %d: minute label %q is not a number", len(azureFixedColumns)+i+1, label)
		}
		if i == 0 {
			az.FirstMinute = minute
		} else if minute != az.FirstMinute+i {
			return nil, fmt.Errorf("trace: invocations column %d: minute %d, want %d (minutes must be consecutive)", len(azureFixedColumns)+i+1, minute, az.FirstMinute+i)
		}
	}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: invocations row %d: %w", row, err)
		}
		fn := Function{Owner: rec[0], App: rec[1], Hash: rec[2], Trigger: rec[3], Counts: make([]int, az.Minutes)}
		for i, cell := range rec[len(azureFixedColumns):] {
			n, err := strconv.Atoi(strings.TrimSpace(cell))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("trace: invocations row %d, minute %s: want a count ≥ 0, got %q", row, header[len(azureFixedColumns)+i], cell)
			}
			fn.Counts[i] = n
		}
		az.Functions = append(az.Functions, fn)
	}
	if len(az.Functions) == 0 {
		return nil, errors.New("trace: invocations file has no functions")
	}
	return az, nil
}

// ReadAzureMemory reads a memory_per_function table into a map from
// HashFunction to AverageAllocatedMb.
func ReadAzureMemory(r io.Reader) (map[string]float64, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("trace: memory header: %w", err)
	}
	hashCol, memCol := -1, -1
	for i, h := range header {
		switch h {
		case "HashFunction":
			hashCol = i
		case "AverageAllocatedMb":
			memCol = i
		}
	}
	if hashCol < 0 || memCol < 0 {
		return nil, fmt.Errorf("trace: memory header %q lacks HashFunction or AverageAllocatedMb", strings.Join(header, ","))
	}
	mem := map[string]float64{}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: memory row %d: %w", row, err)
		}
		v, err := parseValue(rec[memCol])
		if err != nil || v < 0 {
			return nil, fmt.Errorf("trace: memory row %d: AverageAllocatedMb %q is not a size in MB", row, rec[memCol])
		}
		mem[rec[hashCol]] = v
	}
	return mem, nil
}

// ByApp merges the functions of each application into one (the unit the
// hybrid policy of Shahrad et al. keeps warm): counts add up, and so does
// memory, which the sample derived by dividing each app's memory among its
// functions. Apps keep the order of their first function.
func (az *Azure) ByApp() *Azure {
	out := &Azure{FirstMinute: az.FirstMinute, Minutes: az.Minutes}
	index := map[string]int{}
	for _, f := range az.Functions {
		i, ok := index[f.App]
		if !ok {
			i = len(out.Functions)
			index[f.App] = i
			out.Functions = append(out.Functions, Function{Owner: f.Owner, App: f.App, Hash: f.App, Trigger: f.Trigger, Counts: make([]int, az.Minutes)})
		}
		app := &out.Functions[i]
		for m, c := range f.Counts {
			app.Counts[m] += c
		}
		app.MemoryMB += f.MemoryMB
		if app.Trigger != f.Trigger {
			app.Trigger = "mixed"
		}
	}
	return out
}

// Total is the per-minute invocation count summed over all functions.
func (az *Azure) Total() []float64 {
	total := make([]float64, az.Minutes)
	for _, f := range az.Functions {
		for m, c := range f.Counts {
			total[m] += float64(c)
		}
	}
	return total
}
