package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/config"
)

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "client.yaml")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	resolve := func() client.Target {
		t.Helper()
		target, err := client.Resolve("", getenv, cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	if got := resolve(); got.Server != client.DefaultServer || got.Source != "default" {
		t.Fatalf("nothing set: %+v", got)
	}
	err := config.WriteClientConfig(cfgPath, v1alpha1.ClientConfig{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindClientConfig},
		Metadata: v1alpha1.ObjectMeta{Name: "local"},
		Spec:     v1alpha1.ClientConfigSpec{Server: "http://127.0.0.1:9001", Token: "tok"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resolve(); got.Server != "http://127.0.0.1:9001" || got.Token != "tok" || got.Source != cfgPath {
		t.Fatalf("client config: %+v", got)
	}
	env[client.EnvServer] = "http://127.0.0.1:9002"
	if got := resolve(); got.Server != "http://127.0.0.1:9002" {
		t.Fatalf("env over client config: %+v", got)
	}
	got, err := client.Resolve("http://127.0.0.1:9003", getenv, cfgPath)
	if err != nil || got.Server != "http://127.0.0.1:9003" || got.Source != "--server flag" {
		t.Fatalf("flag over env: %+v %v", got, err)
	}
}

func TestResolveRefusesABrokenClientConfig(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "client.yaml")
	os.WriteFile(cfgPath, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: ClientConfig\nmetadata: {name: x}\nspec:\n  sever: http://x\n"), 0o600)
	_, err := client.Resolve("", func(string) string { return "" }, cfgPath)
	if err == nil || !strings.Contains(err.Error(), cfgPath) || !strings.Contains(err.Error(), "sever") {
		t.Fatalf("broken client config: err = %v", err)
	}
}

func TestNewRejectsNonURLs(t *testing.T) {
	for _, s := range []string{"127.0.0.1:7070", "ftp://x", "http://", ""} {
		if _, err := client.New(s); err == nil {
			t.Errorf("New(%q) accepted", s)
		}
	}
}
