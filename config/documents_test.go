package config

import (
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

func TestDocumentsKeepFileLineNumbers(t *testing.T) {
	file := `# a catalog entry
apiVersion: cloudskin.io/v1alpha1
kind: Block
metadata: {name: a}
---
# nothing but a comment
---
apiVersion: cloudskin.io/v1alpha1
kind: Application
metadata:
  name: app
spec:
  components:
  - name: c
    block: a
    replicas: many
`
	docs, err := Documents("app.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Kind != "Block" || docs[1].Kind != "Application" || docs[1].Line != 8 {
		t.Fatalf("docs = %v", docs)
	}
	var a v1alpha1.Application
	err = Decode("app.yaml", docs[1].Data, v1alpha1.KindApplication, &a)
	if err == nil || !strings.Contains(err.Error(), "app.yaml:16:") {
		t.Errorf("error %v; want it at app.yaml:16", err)
	}
}

func TestDocumentsRejectEmptyAndBrokenFiles(t *testing.T) {
	if _, err := Documents("e.yaml", []byte("# only\n---\n")); err == nil || !strings.Contains(err.Error(), "no YAML documents") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Documents("b.yaml", []byte("kind: A\n---\nkind: [\n")); err == nil || !strings.Contains(err.Error(), "b.yaml:") {
		t.Errorf("broken file: %v", err)
	}
}

func FuzzDocuments(f *testing.F) {
	f.Add([]byte("kind: A\n---\nkind: B\n"))
	f.Add([]byte("--- # x\n\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Documents("f.yaml", data)
		if err != nil {
			return
		}
		for _, d := range docs {
			if d.Line < 1 || !hasContent(d.Data) {
				t.Fatalf("document %+v", d)
			}
		}
	})
}
