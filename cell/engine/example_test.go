package engine_test

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// A host module is written once and runs on every engine: this one gives
// guests env.add(a, b i32) i32 and env.store(ptr, v i32), which writes into
// the guest's memory.
func ExampleHostModule() {
	env := engine.HostModule{Name: "env", Funcs: []engine.HostFunc{
		{
			Name: "add", Params: []engine.ValueType{engine.I32, engine.I32}, Results: []engine.ValueType{engine.I32},
			Call: func(_ context.Context, _ engine.Memory, stack []uint64) {
				stack[0] = uint64(uint32(stack[0]) + uint32(stack[1]))
			},
		},
		{
			Name: "store", Params: []engine.ValueType{engine.I32, engine.I32},
			Call: func(_ context.Context, mem engine.Memory, stack []uint64) {
				b := mem.Bytes()
				ptr := uint32(stack[0])
				if uint64(ptr)+4 > uint64(len(b)) {
					panic(&engine.Trap{Reason: "env.store: pointer outside memory"})
				}
				binary.LittleEndian.PutUint32(b[ptr:], uint32(stack[1]))
			},
		},
	}}
	for _, f := range env.Funcs {
		fmt.Println(env.Name+"."+f.Name, engine.Signature(f.Params, f.Results))
	}
	// Output:
	// env.add (i32,i32)->(i32)
	// env.store (i32,i32)->()
}
