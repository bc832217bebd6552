package client

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/cloudskin/cloudskin/config"
)

// DefaultServer is used when nothing else names a control plane.
const DefaultServer = "http://127.0.0.1:7070"

// EnvServer is the environment variable that names the control plane.
const EnvServer = "CLOUDSKIN_SERVER"

// EnvToken is the environment variable holding the bearer token; it
// overrides the client config's.
const EnvToken = "CLOUDSKIN_TOKEN"

// Target is a resolved control plane: where it is, how to authenticate, and
// which source said so (shown by `cloudskin get -v` and in errors).
type Target struct {
	Server string
	Token  string
	Source string
}

// Resolve finds the control plane the way kubectl finds a cluster: the
// --server flag, then $CLOUDSKIN_SERVER, then the client config that
// `cloudskin up` wrote (clientConfigPath), then DefaultServer. A client
// config that exists but is broken is an error, not silently skipped.
// The token is $CLOUDSKIN_TOKEN if set, else the client config's when
// the server came from it.
func Resolve(flagServer string, getenv func(string) string, clientConfigPath string) (Target, error) {
	t, err := resolveServer(flagServer, getenv, clientConfigPath)
	if tok := getenv(EnvToken); tok != "" {
		t.Token = tok
	}
	return t, err
}

func resolveServer(flagServer string, getenv func(string) string, clientConfigPath string) (Target, error) {
	if flagServer != "" {
		return Target{Server: flagServer, Source: "--server flag"}, nil
	}
	if s := getenv(EnvServer); s != "" {
		return Target{Server: s, Source: "$" + EnvServer}, nil
	}
	cc, err := config.LoadClientConfig(clientConfigPath)
	switch {
	case err == nil:
		return Target{Server: cc.Spec.Server, Token: cc.Spec.Token, Source: clientConfigPath}, nil
	case errors.Is(err, fs.ErrNotExist):
		return Target{Server: DefaultServer, Source: "default"}, nil
	default:
		return Target{}, fmt.Errorf("client config: %w", err)
	}
}

// FromTarget returns a client for a resolved target.
func FromTarget(t Target) (*Client, error) {
	c, err := New(t.Server)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, t.Source)
	}
	return c.WithToken(t.Token), nil
}
