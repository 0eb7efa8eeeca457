package simd_test

import "gitvqa/model/kernels/simd"

// testShapes are LoadShapes and more: every edge of the packing and blocking.
var testShapes = simd.Shapes{
	Gemm: [][3]int{{1, 1, 1}, {2, 4, 4}, {3, 5, 7}, {5, 9, 33}, {17, 17, 12}, {2, 64, 513}, {7, 130, 301}, {1, 6, 64}, {9, 65, 3}},
	Attention: []simd.AttentionShape{
		{17, 17, 4, 12, -1},   // vision: all see all
		{1, 30, 2, 16, 29},    // one text token after 29 cached rows
		{1, 925, 12, 64, 924}, // a decoder step of the real model (attn_qk_row, attn_pv_row)
		{1, 7, 3, 32, -1},     // keys not a multiple of 4
		{1, 1, 1, 48, 0},      // the first key only
		{1, 41, 3, 8, 30},     // a row that sees fewer keys than it is given
		{1, 6, 5, 4, -1},      // heads of 4
		{5, 22, 3, 8, 17},     // a prompt of 5 after 17 image rows
		{3, 3, 1, 5, 0},       // causal from the start
		{9, 61, 2, 64, -1},
		{7, 8, 2, 4, -1},  // keys a multiple of 4: no padding
		{40, 44, 2, 8, 4}, // more rows than one block of 32
	},
	AttentionQ8: []simd.AttentionShape{
		{37, 41, 2, 64, -1},   // rows past one block of 32, keys not a multiple of 4
		{33, 45, 3, 16, 7},    // causal: the decoder's image rows see only themselves
		{32, 32, 1, 32, -1},   // one block, keys a multiple of 4
		{65, 901, 1, 64, -1},  // the encoder's keys
		{901, 901, 1, 64, -1}, // the encoder's shape
	},
	// {10, 50, 10}: groups of 10 do not fit the module's 16-column runs and go to Go.
	LinearQ8:  [][3]int{{5, 48, 48}, {70, 100, 100}, {9, 64, 16}, {3, 1024, 64}, {130, 600, 32}, {7, 37, 37}, {10, 50, 10}},
	Q8Q7:      [][3]int{{5, 70, 100}, {9, 37, 48}, {4, 64, 1024}, {33, 130, 600}, {901, 64, 588}},
	LayerNorm: []int{48, 64, 1024, 6},
}
