package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/continuum"
	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// The GEDS commands talk S3 to the gateway of `cloudskin up` (or of
// `cloudskin geds gateway`): the gateway's node holds what they put, so it
// outlives the command, and any S3 tool sees the same objects.

// envS3Endpoint overrides the gateway address of the client config.
const envS3Endpoint = "CLOUDSKIN_S3_ENDPOINT"

func newGEDSCommand(g *globals) *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "geds",
		Short: "Put, get, list and tier objects in GEDS, the ephemeral data store",
		Long: `Use GEDS through its S3 gateway: the one of 'cloudskin up' by default (its
address is in the client config under --data; override with --s3-endpoint or
$CLOUDSKIN_S3_ENDPOINT), with the keys from $CLOUDSKIN_S3_ACCESS_KEY and
$CLOUDSKIN_S3_SECRET_KEY or those 'up' keeps under --data.

Objects are BUCKET/KEY. persist copies an object to the persistency tier (S3)
and keeps it in tier 0; spill moves it there.`,
		Example: `  cloudskin geds mb results
  cloudskin geds put results/run-1/part-0 ./part-0.bin
  cloudskin geds ls results/run-1/
  cloudskin geds get results/run-1/part-0 - | sha256sum
  cloudskin geds spill results/run-1/part-0`,
	}
	cmd.PersistentFlags().StringVar(&endpoint, "s3-endpoint", "", "the S3 gateway's host:port (default: $CLOUDSKIN_S3_ENDPOINT, then the client config)")
	s3 := func() (*s3Target, error) { return g.s3Target(endpoint) }
	cmd.AddCommand(
		gedsMakeBucket(s3), gedsPut(s3), gedsGet(s3), gedsList(s3), gedsRemove(s3), gedsStat(s3),
		gedsTier(s3, "persist", "Copy an object to the persistency tier (S3); tier 0 keeps it"),
		gedsTier(s3, "spill", "Move an object to the persistency tier (S3), freeing tier 0"),
		newGEDSGatewayCommand(g), newGEDSMetadataCommand(g),
	)
	return cmd
}

// s3Target is the gateway and its keys.
type s3Target struct {
	endpoint string
	keys     service.Keys
	client   *minio.Client
}

func (g *globals) s3Target(flag string) (*s3Target, error) {
	endpoint := flag
	if endpoint == "" {
		endpoint = os.Getenv(envS3Endpoint)
	}
	if endpoint == "" {
		cc, err := config.LoadClientConfig(filepath.Join(g.dataDir, continuum.ClientConfigFile))
		if err == nil {
			endpoint = cc.Spec.S3Endpoint
		}
	}
	if endpoint == "" {
		endpoint = service.DefaultS3Listen
	}
	endpoint = strings.TrimPrefix(endpoint, "http://")
	keys, err := loadClientKeys(filepath.Join(g.dataDir, "geds"))
	if err != nil {
		return nil, err
	}
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(keys.AccessKey, keys.SecretKey, "")})
	if err != nil {
		return nil, fmt.Errorf("S3 gateway %s: %w", endpoint, err)
	}
	return &s3Target{endpoint: endpoint, keys: keys, client: c}, nil
}

// loadClientKeys reads the gateway's keys without making new ones.
func loadClientKeys(dir string) (service.Keys, error) {
	if os.Getenv(service.EnvAccessKey) != "" || os.Getenv(service.EnvSecretKey) != "" {
		keys, _, err := service.LoadKeys(dir)
		return keys, err
	}
	if _, err := os.Stat(filepath.Join(dir, service.KeysFile)); err != nil {
		return service.Keys{}, fmt.Errorf("no S3 keys: set $%s and $%s, or run where 'cloudskin up' keeps them (--data; %s not found)",
			service.EnvAccessKey, service.EnvSecretKey, filepath.Join(dir, service.KeysFile))
	}
	keys, _, err := service.LoadKeys(dir)
	return keys, err
}

// objectArg resolves the gateway and the BUCKET/KEY of args[0].
func objectArg(s3 func() (*s3Target, error), args []string) (*s3Target, string, string, error) {
	t, err := s3()
	if err != nil {
		return nil, "", "", err
	}
	bucket, key, err := splitObject(args[0], true)
	return t, bucket, key, err
}

// splitObject parses BUCKET/KEY (KEY may be empty when allowed).
func splitObject(arg string, keyRequired bool) (string, string, error) {
	bucket, key, _ := strings.Cut(arg, "/")
	if bucket == "" || (keyRequired && key == "") {
		return "", "", fmt.Errorf("%q: want BUCKET/KEY", arg)
	}
	return bucket, key, nil
}

func gedsMakeBucket(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "mb BUCKET", Short: "Make a bucket", Args: cobra.ExactArgs(1),
		Example: "  cloudskin geds mb results",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := s3()
			if err != nil {
				return err
			}
			return t.client.MakeBucket(cmd.Context(), args[0], minio.MakeBucketOptions{})
		},
	}
}

func gedsPut(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "put BUCKET/KEY FILE|-", Short: "Write an object from a file or stdin (-), showing progress for large ones", Args: cobra.ExactArgs(2),
		Example: "  cloudskin geds put results/part-0 ./part-0.bin\n  tar c data | cloudskin geds put backups/data.tar -",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, bucket, key, err := objectArg(s3, args)
			if err != nil {
				return err
			}
			var src io.Reader = cmd.InOrStdin()
			size := int64(-1)
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				src, size = f, st.Size()
			}
			p := newProgress(cmd.ErrOrStderr(), "put "+args[0], size)
			info, err := t.client.PutObject(cmd.Context(), bucket, key, p.reader(src), size, minio.PutObjectOptions{})
			p.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %d bytes, etag %s\n", bucket, key, info.Size, info.ETag)
			return nil
		},
	}
}

func gedsGet(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "get BUCKET/KEY [FILE|-]", Short: "Read an object to a file (default: its key's base name) or stdout (-)", Args: cobra.RangeArgs(1, 2),
		Example: "  cloudskin geds get results/part-0\n  cloudskin geds get results/part-0 - | sha256sum",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, bucket, key, err := objectArg(s3, args)
			if err != nil {
				return err
			}
			obj, err := t.client.GetObject(cmd.Context(), bucket, key, minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			st, err := obj.Stat()
			if err != nil {
				return err
			}
			out := filepath.Base(key)
			if len(args) == 2 {
				out = args[1]
			}
			var dst io.Writer = cmd.OutOrStdout()
			if out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				dst = f
			}
			p := newProgress(cmd.ErrOrStderr(), "get "+args[0], st.Size)
			_, err = io.Copy(dst, p.reader(obj))
			p.done()
			return err
		},
	}
}

func gedsList(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "ls [BUCKET[/PREFIX]]", Short: "List buckets, or the objects of a bucket under a prefix", Args: cobra.MaximumNArgs(1),
		Example: "  cloudskin geds ls\n  cloudskin geds ls results/run-1/",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := s3()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 0 {
				buckets, err := t.client.ListBuckets(cmd.Context())
				if err != nil {
					return err
				}
				for _, b := range buckets {
					fmt.Fprintf(w, "%s  %s\n", b.CreationDate.UTC().Format(time.RFC3339), b.Name)
				}
				return nil
			}
			bucket, prefix, err := splitObject(args[0], false)
			if err != nil {
				return err
			}
			for o := range t.client.ListObjects(cmd.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
				if o.Err != nil {
					return o.Err
				}
				fmt.Fprintf(w, "%s  %12d  %s\n", o.LastModified.UTC().Format(time.RFC3339), o.Size, o.Key)
			}
			return nil
		},
	}
}

func gedsRemove(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "rm BUCKET/KEY", Short: "Delete an object", Args: cobra.ExactArgs(1),
		Example: "  cloudskin geds rm results/part-0",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, bucket, key, err := objectArg(s3, args)
			if err != nil {
				return err
			}
			return t.client.RemoveObject(cmd.Context(), bucket, key, minio.RemoveObjectOptions{})
		},
	}
}

func gedsStat(s3 func() (*s3Target, error)) *cobra.Command {
	return &cobra.Command{
		Use: "stat BUCKET/KEY", Short: "Show an object's size, etag and time", Args: cobra.ExactArgs(1),
		Example: "  cloudskin geds stat results/part-0",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, bucket, key, err := objectArg(s3, args)
			if err != nil {
				return err
			}
			st, err := t.client.StatObject(cmd.Context(), bucket, key, minio.StatObjectOptions{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "object: %s/%s\nsize:   %d\netag:   %s\ntime:   %s\n", bucket, key, st.Size, st.ETag, st.LastModified.UTC().Format(time.RFC3339))
			return nil
		},
	}
}

// gedsTier is persist or spill: a CloudSkin extension the gateway serves
// as POST /BUCKET/KEY?persist or ?spill.
func gedsTier(s3 func() (*s3Target, error), verb, short string) *cobra.Command {
	return &cobra.Command{
		Use: verb + " BUCKET/KEY", Short: short, Args: cobra.ExactArgs(1),
		Example: "  cloudskin geds " + verb + " results/part-0",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := s3()
			if err != nil {
				return err
			}
			if _, _, err := splitObject(args[0], true); err != nil {
				return err
			}
			return t.tier(cmd.Context(), args[0], verb)
		},
	}
}

func (t *s3Target) tier(ctx context.Context, object, verb string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+t.endpoint+"/"+object+"?"+verb, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req = signer.SignV4(*req, t.keys.AccessKey, t.keys.SecretKey, "", "us-east-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("S3 gateway %s: %w", t.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", verb, object, resp.Status, s3ErrorMessage(body))
	}
	return nil
}

// emptySHA256 is the SHA-256 of an empty body, as SigV4 wants it.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// s3ErrorMessage pulls <Message> out of an S3 error body.
func s3ErrorMessage(body []byte) string {
	s := string(body)
	if i := strings.Index(s, "<Message>"); i >= 0 {
		if j := strings.Index(s[i:], "</Message>"); j >= 0 {
			return s[i+len("<Message>") : i+j]
		}
	}
	return strings.TrimSpace(s)
}

// progress shows a transfer's bytes and rate on a terminal, for transfers
// of at least progressFrom bytes (or of unknown size).
type progress struct {
	w          io.Writer
	what       string
	total, n   int64
	start, hit time.Time
	on         bool
}

const progressFrom = 8 << 20

func newProgress(w io.Writer, what string, total int64) *progress {
	f, isFile := w.(*os.File)
	on := isFile && term.IsTerminal(int(f.Fd())) && (total < 0 || total >= progressFrom)
	return &progress{w: w, what: what, total: total, start: time.Now(), on: on}
}

func (p *progress) reader(r io.Reader) io.Reader {
	if !p.on {
		return r
	}
	return readerFunc(func(b []byte) (int, error) {
		n, err := r.Read(b)
		p.n += int64(n)
		if now := time.Now(); now.Sub(p.hit) > 200*time.Millisecond || errors.Is(err, io.EOF) {
			p.hit = now
			p.show()
		}
		return n, err
	})
}

func (p *progress) show() {
	rate := float64(p.n) / max(time.Since(p.start).Seconds(), 1e-9) / (1 << 20)
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s: %.1f / %.1f MiB (%3.0f%%), %.1f MiB/s ", p.what, float64(p.n)/(1<<20), float64(p.total)/(1<<20), 100*float64(p.n)/float64(p.total), rate)
		return
	}
	fmt.Fprintf(p.w, "\r%s: %.1f MiB, %.1f MiB/s ", p.what, float64(p.n)/(1<<20), rate)
}

func (p *progress) done() {
	if p.on {
		p.show()
		fmt.Fprintln(p.w)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func newGEDSGatewayCommand(g *globals) *cobra.Command {
	var (
		s3Listen, listen, dir, metadataURL, limit string
		persistent, prefix                        string
		secure, signPayload                       bool
		withMetadata                              bool
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a GEDS node with its S3 gateway (and, with --metadata-here, the metadata service)",
		Long: `Run a GEDS node that holds what S3 clients write, and its S3 gateway, apart
from 'cloudskin up' (which runs both already). The metadata service is the
control plane's (--server, then the client config), or this process's own
with --metadata-here (state in --data). Keys as for 'cloudskin up'. With
--persistent HOST:PORT the node spills to that S3 (keys from
$CLOUDSKIN_GEDS_S3_ACCESS_KEY and $CLOUDSKIN_GEDS_S3_SECRET_KEY).`,
		Example: `  cloudskin geds gateway --s3-listen 0.0.0.0:7071 --dir /dev/shm/geds --limit 8Gi
  cloudskin geds gateway --metadata-here --data /var/lib/geds --persistent 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGEDSGateway(cmd, g, gedsGatewayFlags{
				s3Listen: s3Listen, listen: listen, dir: dir, metadataURL: metadataURL, limit: limit,
				persistent: persistent, prefix: prefix, secure: secure, signPayload: signPayload, withMetadata: withMetadata,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&s3Listen, "s3-listen", service.DefaultS3Listen, "address of the S3 gateway")
	f.StringVar(&listen, "listen", "127.0.0.1:7073", "address of this process's metrics and health endpoints (and metadata API with --metadata-here)")
	f.StringVar(&dir, "dir", "", "tier 0 directory (default: geds/tier0 under --data)")
	f.StringVar(&limit, "limit", "1Gi", "tier 0 size")
	f.StringVar(&metadataURL, "metadata", "", "metadata service URL (default: the control plane's)")
	f.BoolVar(&withMetadata, "metadata-here", false, "run the metadata service in this process, on --listen, with its state in --data")
	f.StringVar(&persistent, "persistent", "", "S3 host:port to spill to (none by default)")
	f.StringVar(&prefix, "persistent-prefix", "geds-", "prefix of GEDS bucket names in the persistency S3")
	f.BoolVar(&secure, "persistent-tls", false, "talk HTTPS to the persistency S3")
	f.BoolVar(&signPayload, "persistent-sign-payload", false, "sign every body's SHA-256 over plain HTTP (default: a CRC32C checksum, much less CPU)")
	return cmd
}

type gedsGatewayFlags struct {
	s3Listen, listen, dir, metadataURL, limit, persistent, prefix string
	secure, signPayload, withMetadata                             bool
}

func runGEDSGateway(cmd *cobra.Command, g *globals, fl gedsGatewayFlags) error {
	lim, err := v1alpha1.ParseQuantity(fl.limit)
	if err != nil {
		return fmt.Errorf("--limit: %w", err)
	}
	keys, made, err := service.LoadKeys(filepath.Join(g.dataDir, "geds"))
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(cmd.OutOrStdout(), "cloudskin geds gateway: S3 keys (kept under %s): access key %s, secret key %s\n", g.dataDir, keys.AccessKey, keys.SecretKey)
	}
	gc := service.GatewayConfig{Listen: fl.s3Listen, Keys: keys, Dir: fl.dir, Limit: lim.Value(), MetadataURL: fl.metadataURL}
	if gc.Dir == "" {
		gc.Dir = filepath.Join(g.dataDir, "geds", "tier0")
	}
	if fl.persistent != "" {
		tier, err := s3tier.New(s3tier.Config{
			Endpoint: fl.persistent, Secure: fl.secure, BucketPrefix: fl.prefix, SignPayload: fl.signPayload,
			AccessKey: os.Getenv("CLOUDSKIN_GEDS_S3_ACCESS_KEY"), SecretKey: os.Getenv("CLOUDSKIN_GEDS_S3_SECRET_KEY"),
		})
		if err != nil {
			return fmt.Errorf("--persistent: %w", err)
		}
		gc.Persistent = tier
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	opts := continuum.Options{Listen: fl.listen, DataDir: g.dataDir, Log: log, Out: cmd.OutOrStdout()}
	comps := []component.Component{}
	if fl.withMetadata {
		if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
			return err
		}
		st, err := bolt.Open(filepath.Join(g.dataDir, "geds-metadata.db"))
		if err != nil {
			return err
		}
		defer st.Close()
		opts.Store = st
		comps = append(comps, metadata.NewService(metadata.Config{}))
	} else if gc.MetadataURL == "" {
		c, err := g.client()
		if err != nil {
			return err
		}
		gc.MetadataURL = c.Server()
	}
	rt, err := continuum.Listen(opts)
	if err != nil {
		return err
	}
	if fl.withMetadata {
		gc.MetadataURL = rt.URL()
	}
	fmt.Fprintf(cmd.OutOrStdout(), "cloudskin geds gateway: S3 on %s, metadata %s; metrics at %s/metrics\n", fl.s3Listen, gc.MetadataURL, rt.URL())
	return rt.Run(cmd.Context(), append(comps, service.NewGateway(gc))...)
}

func newGEDSMetadataCommand(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "metadata",
		Short: "Run the GEDS metadata service on its own (cloudskin up runs one already)",
		Long: `Run the GEDS metadata service apart from 'cloudskin up': buckets, objects and
the nodes holding them, with its state in a bbolt file under --data (it
restarts with nothing lost). GEDS nodes and gateways point at it with
--metadata.`,
		Example: "  cloudskin geds metadata --listen 0.0.0.0:7074 --data /var/lib/geds",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
				return err
			}
			st, err := bolt.Open(filepath.Join(g.dataDir, "geds-metadata.db"))
			if err != nil {
				return err
			}
			defer st.Close()
			rt, err := continuum.Listen(continuum.Options{Listen: listen, DataDir: g.dataDir, Store: st, Log: log, Out: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cloudskin geds metadata: point nodes at --metadata %s; metrics at %s/metrics\n", rt.URL(), rt.URL())
			return rt.Run(cmd.Context(), metadata.NewService(metadata.Config{}))
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7074", "address of the metadata API (and metrics, health)")
	return cmd
}
