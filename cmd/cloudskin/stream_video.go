package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/internal/version"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/video"
)

func newStreamVideoCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "video",
		Short: "Store video in a stream, one event per frame, and watch it in a browser",
		Long: `ingest reads video through ffmpeg (a camera, a file, a URL, or ffmpeg's test
pattern) and appends every frame as one durable event with its capture time;
serve is the video server: each stream as MJPEG in a browser, live or from
any past point.

Like the other stream commands, these talk the store's TCP protocol to
--server, the stream store's host:port (default ` + tcp.DefaultAddr + `), with the
token of $CLOUDSKIN_TOKEN, else of the client config.`,
	}
	cmd.AddCommand(newStreamVideoIngestCommand(g), newStreamVideoServeCommand(g))
	return cmd
}

// videoClient returns the video path's client of the stream store at the
// stream command's --server. It dials as every stream command does, when
// first used and again after its connection fails.
func (g *globals) videoClient(cmd *cobra.Command) *video.TCPClient {
	return video.NewTCPClient(func(context.Context) (*tcp.Client, error) { return g.streamConn(cmd) })
}

func newStreamVideoIngestCommand(g *globals) *cobra.Command {
	var (
		testSource, input, camera, ffmpeg string
		realtime                          bool
		frames, inFlight, quality         int
		duration                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ingest SCOPE/STREAM [--test-source WxH@FPS | --input FILE|URL|DEVICE] [--camera NAME] [--frames N | --duration D]",
		Short: "Append the frames of a video to a stream, one event per frame",
		Long: `Run ffmpeg to read a video and append each frame, as JPEG with its capture
time and sequence number, as one event with the camera name as routing key.
The stream is created if it is missing. Appends are pipelined (up to
--in-flight unacknowledged) and stay in order; a frame that cannot be stored
stops ingest with the error, and Ctrl-C stops once the frames in flight are
acknowledged. Progress is shown on a terminal; a summary line is printed at
the end.

Without --input, ffmpeg's testsrc2 pattern is the source, paced like a
camera; --input takes anything ffmpeg reads (re-encoded to MJPEG), as fast
as it can unless --realtime.`,
		Example: `  cloudskin stream video ingest surgery/or-1 --frames 300
  cloudskin stream video ingest surgery/or-1 --test-source 1920x1080@30 --duration 1m
  cloudskin stream video ingest surgery/or-1 --input /dev/video0 --camera endoscope
  cloudskin stream video ingest surgery/or-1 --input recording.mp4 --realtime`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("test-source") && input != "" {
				return errors.New("--test-source and --input: give one source")
			}
			if frames < 0 || duration < 0 {
				return errors.New("--frames and --duration cannot be negative")
			}
			cfg := video.SourceConfig{FFmpeg: ffmpeg, Input: input, Frames: frames, Quality: quality, Camera: camera,
				Realtime: realtime || (input == "" && !cmd.Flags().Changed("realtime"))}
			if input == "" {
				w, h, rate, err := video.ParseTestSource(testSource)
				if err != nil {
					return err
				}
				cfg.TestWidth, cfg.TestHeight, cfg.TestRate = w, h, rate
			}
			name, err := streamapi.ParseStreamName(args[0])
			if err != nil {
				return err
			}
			c := g.videoClient(cmd)
			defer c.Close()
			// Reach the store before starting ffmpeg.
			if err := c.EnsureStream(cmd.Context(), name); err != nil {
				return err
			}
			src, err := video.StartSource(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			in := &video.Ingester{Client: c, Stream: name, Camera: camera,
				InFlight: inFlight, MaxFrames: frames, MaxDuration: duration}
			stopProgress := showProgress(in)
			stats, err := in.Run(cmd.Context(), src)
			stopProgress()
			how := "stored"
			if cmd.Context().Err() != nil {
				how = "interrupted; stored"
			}
			if stats.Frames > 0 || err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: camera %s, segment %d, offsets %d to %d: %s\n",
					how, name, orDefaultCamera(camera), stats.Segment, stats.First, stats.Last, stats)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&testSource, "test-source", "1280x720@30", "ffmpeg's testsrc2 pattern as WIDTHxHEIGHT@FPS (the source without --input)")
	f.StringVar(&input, "input", "", "what ffmpeg reads (-i): a file, URL or device such as /dev/video0")
	f.BoolVar(&realtime, "realtime", false, "read the input at its frame rate (ffmpeg -re); default: on for the test source, off for --input")
	f.StringVar(&camera, "camera", video.DefaultCamera, "camera name: the routing key, and stored in every frame")
	f.IntVar(&frames, "frames", 0, "stop after this many frames (0: at the end of the input)")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: at the end of the input)")
	f.IntVar(&inFlight, "in-flight", video.DefaultInFlight, "appends sent and not yet acknowledged, at most")
	f.IntVar(&quality, "quality", video.DefaultQuality, "JPEG quantiser scale, 2 (best, largest) to 31")
	f.StringVar(&ffmpeg, "ffmpeg", "ffmpeg", "the ffmpeg program")
	return cmd
}

func orDefaultCamera(c string) string {
	if c == "" {
		return video.DefaultCamera
	}
	return c
}

// showProgress rewrites one line on stderr twice a second while ingest
// runs, if stderr is a terminal. The returned function stops it.
func showProgress(in *video.Ingester) func() {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return func() {}
	}
	return progressLoop(os.Stderr, in, 500*time.Millisecond)
}

func progressLoop(w io.Writer, in *video.Ingester, every time.Duration) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", in.Stats())
			}
		}
	}()
	return func() { cancel(); <-done }
}

func newStreamVideoServeCommand(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]",
		Short: "Serve the streams' video to browsers, live or from any past point",
		Long: `The video server: / lists the streams, /video/SCOPE/STREAM shows one as MJPEG in
an <img>, and /video/SCOPE/STREAM/mjpeg is the MJPEG itself
(multipart/x-mixed-replace), with these query parameters:

  from=tail|start|TIME|SEGMENT:OFFSET  where to start (default tail: live);
                                       TIME is RFC 3339, the first frame
                                       captured at or after it
  speed=X                              replay pace against the capture times
                                       (default 1; 0: as fast as possible)
  camera=NAME                          which camera (default camera-1)

Each part carries the frame's capture time in X-Capture-Time. It reads the
store at --server (connecting when first asked, and again after the
connection is lost) and serves /metrics, /healthz and /readyz too.`,
		Example: `  cloudskin stream video serve
  cloudskin stream video serve --listen 0.0.0.0:8090
  curl -sN 'http://127.0.0.1:8090/video/surgery/or-1/mjpeg?from=start&speed=0' | head -c 1000000 > frames.mjpeg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			store, err := cmd.Flags().GetString("server")
			if err != nil {
				return err
			}
			c := g.videoClient(cmd)
			defer c.Close()
			v := version.Get()
			reg := metrics.New(v.Version, v.Commit)
			srv := httpserver.New(log, reg)
			h, err := video.NewHandler(c, log, reg.Registerer)
			if err != nil {
				return err
			}
			h.Register(srv)
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("video server: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "video server at http://%s (streams of the store at %s)\n", ln.Addr(), store)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve on")
	return cmd
}
