package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/imageproc"
	"gitvqa/model/kernels"
	"gitvqa/model/ops"
)

// Backend runs the model's graphs. The graph is the program; a backend is its
// executor: it compiles each graph the session builds (a layer, or a whole stack of
// layers) into a Program and runs it. The CPU backend runs the graph's ops in order on a
// kernel set (the Go loops, or the WebAssembly SIMD module). A GPU backend compiles the
// same graph into its own commands, walking its nodes (ops.Builder's ops are plain
// values: their kind, shapes and attributes say what to dispatch), and keeps the
// activations in its own buffers for the whole program; with WholeStacks it gets all 24
// vision layers as one program, and only the program's output comes back to Go.
//
// A backend belongs to one session (or one vision shard): kernel sets keep scratch.
type Backend interface {
	// Name says what runs: "go", "simd", "relaxed-simd".
	Name() string
	// Exact is false when the backend rounds activations to save time (the SIMD module's
	// 7-bit path), true when it keeps them float32.
	Exact() bool
	// Kernels is the set the graph's ops call when the CPU runs them.
	Kernels() kernels.Kernels
	// Profile counts where the time goes, when started.
	Profile() *kernels.Profile
	// WholeStacks asks for each stack of layers as one program instead of one program
	// per layer kind run once per layer (which bounds the CPU's memory to one layer's
	// activations).
	WholeStacks() bool
	// Compile prepares a graph to run many times, producing out.
	Compile(g *G.ExprGraph, out *G.Node) (Program, error)
}

// Program is a compiled graph.
type Program interface {
	// Run binds the inputs and runs the graph. The output's values stay valid until the
	// next Run.
	Run(in ...[]ops.Binding) ([]float32, error)
}

// CPU is the backend that runs graphs on the CPU with Gorgonia's tape machine, their
// ops on k. exact says whether k keeps activations float32.
func CPU(name string, k kernels.Kernels, exact bool) Backend {
	c := &cpu{name: name, exact: exact, profile: &kernels.Profile{}}
	c.k = kernels.Profiled(k, c.profile)
	c.resample, _ = k.(imageproc.RowResampler)
	return c
}

// GoBackend runs on the plain-Go kernels: the reference, and the fallback everywhere.
func GoBackend() Backend { return CPU("go", &kernels.Go{}, true) }

type cpu struct {
	name    string
	exact   bool
	k       kernels.Kernels
	profile *kernels.Profile
	stacks  bool
	// resample is k's horizontal pass for pictures, if it has one (the SIMD module).
	resample imageproc.RowResampler
}

func (c *cpu) Name() string              { return c.name }
func (c *cpu) Exact() bool               { return c.exact }
func (c *cpu) Kernels() kernels.Kernels  { return c.k }
func (c *cpu) Profile() *kernels.Profile { return c.profile }
func (c *cpu) WholeStacks() bool         { return c.stacks }

// RowResampler is the backend's horizontal pass for resizing pictures (nil: Go's); the
// worker asks for it by this method (ResamplerOf).
func (c *cpu) RowResampler() imageproc.RowResampler { return c.resample }

// ResamplerOf is b's horizontal pass for resizing pictures, nil for Go's.
func ResamplerOf(b Backend) imageproc.RowResampler {
	if r, ok := b.(interface{ RowResampler() imageproc.RowResampler }); ok {
		return r.RowResampler()
	}
	return nil
}
func (c *cpu) Compile(g *G.ExprGraph, out *G.Node) (p Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compiling graph: %v", r)
		}
	}()
	return &tape{vm: G.NewTapeMachine(g), out: out}, nil
}

// WithWholeStacks returns a CPU backend that asks for whole stacks of layers as one
// program: what a device backend does, on the CPU, so the tests can hold the two ways
// of running to the same answers.
func WithWholeStacks(b Backend) Backend {
	c := *b.(*cpu)
	c.stacks = true
	return &c
}

// tape is a graph compiled into Gorgonia's tape machine.
type tape struct {
	vm  G.VM
	out *G.Node
}

func (p *tape) Run(in ...[]ops.Binding) (v []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph run failed: %v", r)
		}
	}()
	for _, b := range in {
		for _, x := range b {
			if err := G.Let(x.Node, x.Value); err != nil {
				return nil, fmt.Errorf("binding %s: %w", x.Node.Name(), err)
			}
		}
	}
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		if ce, ok := err.(interface{ Err() error }); ok {
			err = ce.Err() // the tape machine's wrapper hides the op's error from errors.Is
		}
		return nil, err
	}
	return p.out.Value().(*tensor.Dense).Float32s(), nil
}
