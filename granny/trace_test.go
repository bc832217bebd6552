package granny

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestTraceRoundTrip(t *testing.T) {
	jobs := Generate(DefaultGenConfig(7, 500))
	var buf bytes.Buffer
	if err := WriteTrace(&buf, jobs); err != nil {
		t.Fatal(err)
	}
	back, err := ParseTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jobs, back) {
		t.Fatal("written trace parses to other jobs")
	}
}

func TestParseTrace(t *testing.T) {
	in := "# a comment\n\n" + TraceHeader + "\r\n0,4,60.5,256,false\n 1.25 , 1, 3, 0, true \n"
	jobs, err := ParseTrace(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 0, Arrival: 0, Ranks: 4, Duration: 60.5, MemoryPerRank: 256 << 20},
		{ID: 1, Arrival: 1.25, Ranks: 1, Duration: 3, Elastic: true},
	}
	if !reflect.DeepEqual(jobs, want) {
		t.Fatalf("got %+v", jobs)
	}
}

func TestParseTraceErrors(t *testing.T) {
	h := TraceHeader + "\n"
	for _, c := range []struct {
		in    string
		line  int
		field string
	}{
		{"", 0, ""},
		{"arrival,ranks\n", 1, ""},
		{h + "0,1,1,0\n", 2, ""},
		{h + "x,1,1,0,false\n", 2, "arrival"},
		{h + "-1,1,1,0,false\n", 2, "arrival"},
		{h + "NaN,1,1,0,false\n", 2, "arrival"},
		{h + "5,1,1,0,false\n4,1,1,0,false\n", 3, "arrival"},
		{h + "0,0,1,0,false\n", 2, "ranks"},
		{h + "0,1.5,1,0,false\n", 2, "ranks"},
		{h + "0,99999999,1,0,false\n", 2, "ranks"},
		{h + "0,1,0,0,false\n", 2, "duration"},
		{h + "0,1,+Inf,0,false\n", 2, "duration"},
		{h + "0,1,1,-1,false\n", 2, "memory_mib"},
		{h + "0,1,1,0,yes\n", 2, "elastic"},
		{h + "# c\n0,1,1,0,false\n0,1,1,0,TRUE\n", 4, "elastic"},
	} {
		_, err := ParseTrace(strings.NewReader(c.in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != c.line || pe.Field != c.field {
			t.Errorf("%q: error %v, want line %d field %q", c.in, err, c.line, c.field)
		}
	}
}

func TestGenerate(t *testing.T) {
	c := DefaultGenConfig(3, 20000)
	a, b := Generate(c), Generate(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different traces")
	}
	c.Seed = 4
	if reflect.DeepEqual(a, Generate(c)) {
		t.Fatal("other seed, same trace")
	}
	sizes := map[int]int{}
	elastic := 0
	var logs []float64
	for i, j := range a {
		sizes[j.Ranks]++
		if j.Elastic {
			elastic++
		}
		if i > 0 && j.Arrival < a[i-1].Arrival || j.Duration <= 0 || j.MemoryPerRank <= 0 {
			t.Fatalf("job %+v", j)
		}
		logs = append(logs, math.Log(j.Duration))
	}
	for i, r := range c.RankSizes {
		if got, want := float64(sizes[r])/float64(len(a)), c.RankWeights[i]/100; math.Abs(got-want) > 0.02 {
			t.Errorf("%d-rank jobs: %.3f of the trace, want %.2f", r, got, want)
		}
	}
	if len(sizes) != len(c.RankSizes) {
		t.Errorf("rank sizes %v", sizes)
	}
	if f := float64(elastic) / float64(len(a)); math.Abs(f-c.ElasticFraction) > 0.02 {
		t.Errorf("elastic fraction %.3f", f)
	}
	mean := 0.0
	for _, l := range logs {
		mean += l
	}
	mean /= float64(len(logs))
	if math.Abs(math.Exp(mean)-c.DurationMedian) > 3 {
		t.Errorf("median duration about %.1f, want %v", math.Exp(mean), c.DurationMedian)
	}
	if rate := a[len(a)-1].Arrival / float64(len(a)); math.Abs(rate-c.MeanInterarrival) > 0.003 {
		t.Errorf("mean interarrival %.4f, want %v", rate, c.MeanInterarrival)
	}
}

func TestGenerateEvictions(t *testing.T) {
	hosts := Cluster(100, 8, 0.2)
	ev := GenerateEvictions(1, hosts, 3600, 600, 30, 120)
	if len(ev) == 0 {
		t.Fatal("no evictions")
	}
	for _, e := range ev {
		if !hosts[e.Host].Spot || e.Deadline != e.Notice+30 || e.Return != e.Deadline+120 || e.Notice >= 3600 {
			t.Fatalf("eviction %+v", e)
		}
	}
	if _, err := Simulate(Config{Hosts: hosts, Evictions: ev}); err != nil {
		t.Fatalf("generated evictions do not validate: %v", err)
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add([]byte(TraceHeader + "\n0,4,60.5,256,false\n1.25,1,3,0,true\n"))
	f.Add([]byte("# c\n" + TraceHeader + "\r\n\n0,1,1e-3,1,false\n"))
	f.Add([]byte(TraceHeader + "\n0,1,1,0,false\n-0,1,1,0,false\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := ParseTrace(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 0 {
				t.Fatalf("error %v is not a ParseError", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteTrace(&buf, jobs); err != nil {
			t.Fatal(err)
		}
		back, err := ParseTrace(&buf)
		if err != nil {
			t.Fatalf("written trace does not parse: %v\n%s", err, buf.Bytes())
		}
		if !reflect.DeepEqual(jobs, back) {
			t.Fatalf("round trip changed the jobs:\n%+v\n%+v", jobs, back)
		}
	})
}
