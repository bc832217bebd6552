package config_test

import (
	"fmt"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
)

func ExampleDecode() {
	data := []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Site
metadata:
  name: edge-1
spec:
  type: edge
  capacity:
    cpus: 2
    memory: lots
`)
	var site v1alpha1.Site
	err := config.Decode("site.yaml", data, v1alpha1.KindSite, &site)
	fmt.Println(err)
	// Output:
	// site.yaml:8:5: spec.capacity.cpus: unknown field (known fields: cores, memory, disk)
	// site.yaml:9:13: spec.capacity.memory: cannot unmarshal "lots" into quantity (want e.g. 2Gi)
}
