package simd

// ResampleRowRGBA is imageproc.RowResampler on the module: the horizontal pass of a
// large picture's resize, four channels a multiply (the Go pass takes two or three).
func (x *Kernels) ResampleRowRGBA(dst, src []uint8, bounds, kk []int32, ksize int) {
	cw := len(bounds) / 2
	if cw == 0 {
		return
	}
	x.M.ResampleRowRGBA(x.M.InU8(src), x.M.InI32(bounds), x.M.InI32(kk), ksize, cw, x.M.InOutU8(dst[:3*cw+1]))
	x.M.Done()
}
