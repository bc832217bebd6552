package video

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// BenchmarkFrameLatency runs the video path end to end with real ffmpeg
// frames of testsrc2 at 30 fps, paced as a camera: ingest over the TCP
// protocol into a store on local disk, and a live (tail) MJPEG client of the
// video server. One op is one frame; run it with a fixed count, e.g.
//
//	go test -run '^$' -bench FrameLatency -benchtime 300x ./stream/video
//
// It reports the append latency (sent to acknowledged as durable,
// to within 5 %) and the capture-to-served latency (the frame complete on
// ffmpeg's pipe to the MJPEG client having its whole part), and the mean
// JPEG size.
func BenchmarkFrameLatency(b *testing.B) {
	needFFmpeg(b)
	for _, size := range []struct {
		name          string
		width, height int
	}{{"720p", 1280, 720}, {"1080p", 1920, 1080}} {
		b.Run(size.name, func(b *testing.B) {
			fx := newFixture(b)
			ctx := context.Background()
			name := stream.StreamName{Scope: "bench", Stream: size.name}
			if err := fx.client.EnsureStream(ctx, name); err != nil {
				b.Fatal(err)
			}
			viewer := openMJPEG(b, fx.video+"/video/bench/"+size.name+"/mjpeg?from=tail")
			served := make(chan []time.Duration, 1)
			go func() {
				var lat []time.Duration
				defer func() { served <- lat }()
				for range b.N {
					p, err := viewer.next()
					if err != nil {
						return
					}
					captured, err := time.Parse(time.RFC3339Nano, p.header.Get(HeaderCaptureTime))
					if err != nil {
						return
					}
					lat = append(lat, p.at.Sub(captured))
				}
			}()
			src, err := StartSource(ctx, SourceConfig{TestWidth: size.width, TestHeight: size.height, TestRate: 30, Realtime: true, Frames: b.N})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			in := &Ingester{Client: fx.client, Stream: name}
			b.ResetTimer()
			stats, err := in.Run(ctx, src)
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			select {
			case lat = <-served:
			case <-time.After(30 * time.Second):
				viewer.close()
				lat = <-served
			}
			b.StopTimer()
			if len(lat) != b.N {
				b.Fatalf("the viewer got %d of %d frames", len(lat), b.N)
			}
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(stats.AppendP50), "append-p50-ms")
			b.ReportMetric(ms(stats.AppendP95), "append-p95-ms")
			b.ReportMetric(ms(stats.AppendP99), "append-p99-ms")
			b.ReportMetric(ms(lat[len(lat)/2]), "served-p50-ms")
			b.ReportMetric(ms(lat[len(lat)*95/100]), "served-p95-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "served-p99-ms")
			b.ReportMetric(float64(stats.Bytes)/float64(stats.Frames)/1000, "frame-kB")
		})
	}
}
