package streamapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// FuzzAPI sends arbitrary bodies and query strings to the routes that
// parse them: whatever comes in, the answer is a success or a 4xx, never a
// 500 or a panic.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/events", `{"routingKey":"k","events":["aGk="],"writerId":"w","seq":1}`)
	f.Add("PUT", "/", `{"segments":2,"retention":{"maxAge":"1h"}}`)
	f.Add("GET", "/segments/0/events?from=0&maxBytes=10&wait=1ms", "")
	f.Add("POST", "/truncate", `{"cut":{"0":6}}`)
	f.Add("POST", "/scale", `{"split":0,"parts":2}`)
	f.Add("POST", "/scale", `{"seal":[1],"ranges":[{"low":0.5,"high":0.7},{"low":0.7,"high":1}]}`)
	f.Add("POST", "/scale", `{"merge":[4294967298,4294967299]}`)
	f.Add("PUT", "/groups", `{"stream":"surgery/cams"}`)
	s, err := stream.Open(context.Background(), stream.Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateScope(ctx, "surgery"); err != nil {
		f.Fatal(err)
	}
	if err := s.CreateStream(ctx, cams, stream.StreamConfig{Segments: 2}); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	streamapi.NewHandler(s.Service(), nil).Register(mux)
	f.Fuzz(func(t *testing.T, method, suffix, body string) {
		if method != "GET" && method != "PUT" && method != "POST" {
			return
		}
		path := "/streams/v1/scopes/surgery/streams/cams" + suffix
		if strings.HasPrefix(suffix, "/groups") {
			path = "/streams/v1/groups/g" + strings.TrimPrefix(suffix, "/groups")
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
	})
}
