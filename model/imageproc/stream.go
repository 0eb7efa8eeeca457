package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"gitvqa/model/imageproc/pngrows"
)

// A picture goes through preprocessing a row at a time: each source row is converted to
// RGB, resampled horizontally (only the columns the crop keeps) and kept in a ring of
// as many rows as one output row of the vertical pass reads; an output row is computed
// as soon as its last source row arrives. The arithmetic is resizeWindow's, step for
// step, so the result equals Pillow's byte for byte, while a picture costs a few rows of
// memory, not a copy of itself: a PNG is decoded row by row (pngrows), other formats
// are decoded whole by their decoders and streamed from there.

// stream preprocesses one picture of w×h pixels fed row by row.
type stream struct {
	c                 *Config
	w, h              int
	outW, outH        int // the cropped output
	top, left         int // where the resized picture sits in the output
	x0, y0, cw, ch    int // the crop window, in resized coordinates
	needH, needV      bool
	hc, vc            coeffs
	rowFirst, rowLast int // source rows the window reads
	ring              [][]uint8
	next              int // the next window row to compute
	out               *RGB
	rb                []int64 // rowRGBA's packed red|blue<<32 and green of one row
	g                 []int32
	fast              RowResampler // rowRGBA's horizontal pass, when set
	hb                []int32      // hc.bounds as int32, for fast
}

func (c *Config) newStream(w, h int) (*stream, error) {
	if err := CheckSize(w, h); err != nil {
		return nil, err
	}
	rw, rh := w, h
	if c.DoResize {
		rw, rh = c.resizedSize(w, h)
		if rw <= 0 || rh <= 0 {
			return nil, fmt.Errorf("image of %d×%d resizes to nothing", w, h)
		}
	}
	// The crop window in resized coordinates, and where it lands in the output
	// (transformers pads with zeros when the image is smaller than the crop).
	outH, outW := rh, rw
	if c.DoCenterCrop {
		outH, outW = c.CropH, c.CropW
	}
	s := &stream{c: c, w: w, h: h, outW: outW, outH: outH, top: floorDiv(rh-outH, 2), left: floorDiv(rw-outW, 2)}
	s.y0, s.x0 = max(0, s.top), max(0, s.left)
	s.ch, s.cw = min(rh, s.top+outH)-s.y0, min(rw, s.left+outW)-s.x0
	s.out = &RGB{W: outW, H: outH, Pix: make([]uint8, 3*outW*outH)}
	f := filters[c.Resample]
	s.needH, s.needV = rw != w, rh != h
	s.rowFirst, s.rowLast = s.y0, s.y0+s.ch
	ring := 1
	if s.needV {
		s.vc = precomputeCoeffs(h, rh, s.y0, s.y0+s.ch, f)
		s.rowFirst = s.vc.bounds[0]
		s.rowLast = s.vc.bounds[2*(s.ch-1)] + s.vc.bounds[2*(s.ch-1)+1]
		ring = s.vc.ksize
	}
	if s.needH {
		s.hc = precomputeCoeffs(w, rw, s.x0, s.x0+s.cw, f)
	}
	for i := 0; i < ring; i++ {
		s.ring = append(s.ring, make([]uint8, 3*s.cw+1)) // a spare byte for RowResampler
	}
	return s, nil
}

// row takes source row y (packed RGB, w pixels); rows come in order.
func (s *stream) row(y int, rgb []uint8) {
	if y < s.rowFirst || y >= s.rowLast {
		return
	}
	dst := s.ring[(y-s.rowFirst)%len(s.ring)]
	if s.needH {
		for xx := 0; xx < s.cw; xx++ {
			xmin, xn := s.hc.bounds[2*xx], s.hc.bounds[2*xx+1]
			k := s.hc.kk[xx*s.hc.ksize : xx*s.hc.ksize+xn]
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for x, kv := range k {
				p := rgb[(xmin+x)*3:]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
			}
			dst[3*xx], dst[3*xx+1], dst[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	} else {
		copy(dst, rgb[3*s.x0:3*(s.x0+s.cw)])
	}
	s.resampled(y, dst)
}

// rowRGBA takes source row y as RGBA (4 bytes a pixel, alpha ignored). The horizontal
// pass, most of a large picture's cost, multiplies red and blue together: each pixel's
// R | B<<32 in one int64 times the tap gives both products, and since each channel's
// sum fits in 32 bits (as in Pillow's int32 arithmetic) the low lane's borrow is undone
// exactly at the end. Same integers as row, two multiplies a tap instead of three.
func (s *stream) rowRGBA(y int, rgba []uint8) {
	if y < s.rowFirst || y >= s.rowLast {
		return
	}
	dst := s.ring[(y-s.rowFirst)%len(s.ring)]
	if !s.needH {
		for xx := 0; xx < s.cw; xx++ {
			p := rgba[4*(s.x0+xx):]
			dst[3*xx], dst[3*xx+1], dst[3*xx+2] = p[0], p[1], p[2]
		}
		s.resampled(y, dst)
		return
	}
	if s.fast != nil {
		if s.hb == nil {
			s.hb = make([]int32, len(s.hc.bounds))
			for i, v := range s.hc.bounds {
				s.hb[i] = int32(v)
			}
		}
		s.fast.ResampleRowRGBA(dst, rgba, s.hb, s.hc.kk, s.hc.ksize)
		s.resampled(y, dst)
		return
	}
	if len(s.rb) < s.w {
		s.rb, s.g = make([]int64, s.w), make([]int32, s.w)
	}
	rb, g := s.rb[:s.w], s.g[:s.w]
	for x := range rb {
		p := rgba[4*x : 4*x+3]
		rb[x] = int64(p[0]) | int64(p[2])<<32
		g[x] = int32(p[1])
	}
	const half = 1 << (precisionBits - 1)
	for xx := 0; xx < s.cw; xx++ {
		xmin, xn := s.hc.bounds[2*xx], s.hc.bounds[2*xx+1]
		k := s.hc.kk[xx*s.hc.ksize : xx*s.hc.ksize+xn]
		rbw, gw := rb[xmin:xmin+len(k)], g[xmin:xmin+len(k)]
		srb, sg := int64(half)|int64(half)<<32, int32(half)
		for i, kv := range k {
			srb += rbw[i] * int64(kv)
			sg += gw[i] * kv
		}
		r := int32(srb)
		b := int32((srb - int64(r)) >> 32)
		dst[3*xx], dst[3*xx+1], dst[3*xx+2] = clip8(r), clip8(sg), clip8(b)
	}
	s.resampled(y, dst)
}

// resampled takes source row y after the horizontal pass (dst, in the ring) and
// computes the output rows whose last source row it is.
func (s *stream) resampled(y int, dst []uint8) {
	if !s.needV {
		s.put(y-s.y0, dst)
		return
	}
	for s.next < s.ch {
		ymin, yn := s.vc.bounds[2*s.next], s.vc.bounds[2*s.next+1]
		if ymin+yn-1 > y {
			return // its last row has not arrived
		}
		k := s.vc.kk[s.next*s.vc.ksize : s.next*s.vc.ksize+yn]
		o := s.out.Pix[((s.next+s.y0-s.top)*s.outW+(s.x0-s.left))*3:]
		for xx := 0; xx < s.cw; xx++ {
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for i, kv := range k {
				p := s.ring[(ymin+i-s.rowFirst)%len(s.ring)][3*xx:]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
			}
			o[3*xx], o[3*xx+1], o[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
		s.next++
	}
}

// put writes window row r.
func (s *stream) put(r int, rgb []uint8) {
	copy(s.out.Pix[((r+s.y0-s.top)*s.outW+(s.x0-s.left))*3:], rgb[:3*s.cw])
	s.next = r + 1
}

func (s *stream) finish() (*Result, error) {
	if s.next != s.ch {
		return nil, fmt.Errorf("picture ended after %d of its rows", s.next)
	}
	return &Result{Cropped: s.out, Pixels: s.c.normalize(s.out)}, nil
}

// PreprocessFile decodes an encoded picture (PNG, JPEG, GIF, BMP, WebP) and
// preprocesses it, as Decode then Preprocess would, without holding the decoded
// picture: PNG rows go straight from the decompressor to the resampler.
func (c *Config) PreprocessFile(data []byte) (*Result, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a readable image (PNG, JPEG, GIF, BMP or WebP): %w", err)
	}
	s, err := c.newStream(cfg.Width, cfg.Height)
	if err != nil {
		return nil, err
	}
	var conv rowConverter
	if format == "png" {
		err = pngrows.DecodeRows(bytes.NewReader(data), func(y int, row image.Image) error {
			return conv.rows(row, func(_ int, rgb []uint8) { s.row(y, rgb) })
		})
		if !errors.Is(err, pngrows.ErrInterlaced) {
			if err != nil {
				return nil, fmt.Errorf("corrupt png image: %w", err)
			}
			return s.finish()
		}
		m, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("corrupt png image: %w", err)
		}
		return c.preprocessImage(s, m)
	}
	m, err := decodeWhole(data, format)
	if err != nil {
		return nil, err
	}
	return c.preprocessImage(s, m)
}

func (c *Config) preprocessImage(s *stream, m image.Image) (*Result, error) {
	b := m.Bounds()
	if b.Dx() != s.w || b.Dy() != s.h {
		return nil, fmt.Errorf("the picture decodes to %d×%d, its header says %d×%d", b.Dx(), b.Dy(), s.w, s.h)
	}
	var conv rowConverter
	if err := conv.rows(m, s.row); err != nil {
		return nil, err
	}
	return s.finish()
}

// PreprocessRGBA preprocesses canvas pixels (getImageData: RGBA, 4 bytes a pixel),
// dropping alpha as Pillow's convert("RGB") does; fast as for PreprocessStrips.
func (c *Config) PreprocessRGBA(w, h int, rgba []byte, fast RowResampler) (*Result, error) {
	if len(rgba) != 4*w*h {
		if err := CheckSize(w, h); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("RGBA buffer holds %d bytes, %d×%d needs %d", len(rgba), w, h, 4*w*h)
	}
	return c.PreprocessStrips(w, h, func(y0, n int, dst []byte) error {
		copy(dst, rgba[4*w*y0:4*w*(y0+n)])
		return nil
	}, fast)
}

// StripRows is how many rows PreprocessStrips asks for at a time.
const StripRows = 64

// RowResampler runs the horizontal pass over one row of RGBA pixels faster than Go
// (the SIMD kernel module, model/kernels/simd): output pixel i is the sum of the
// bounds[2i+1] taps kk[i·ksize…] times the pixels from bounds[2i], in Pillow's 22-bit
// fixed point (start at 1<<21, shift right by 22, clip to 0…255), stored as R, G, B at
// dst[3i:]. dst has a spare byte past the last pixel. The result must equal Go's.
type RowResampler interface {
	ResampleRowRGBA(dst, src []uint8, bounds, kk []int32, ksize int)
}

// PreprocessStrips preprocesses a w×h RGBA picture that read delivers a strip of rows
// at a time (rows y0 to y0+n-1 into dst, 4 bytes a pixel): a picture decoded by the
// browser is read from its canvas in strips, never copied whole. Only the rows the
// crop needs are asked for, in order. fast, when not nil, runs the horizontal pass.
func (c *Config) PreprocessStrips(w, h int, read func(y0, n int, dst []byte) error, fast RowResampler) (*Result, error) {
	s, err := c.newStream(w, h)
	if err != nil {
		return nil, err
	}
	s.fast = fast
	strip := make([]byte, 4*w*min(StripRows, h))
	for y0 := s.rowFirst; y0 < s.rowLast; y0 += StripRows {
		n := min(StripRows, s.rowLast-y0)
		if err := read(y0, n, strip[:4*w*n]); err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			s.rowRGBA(y0+i, strip[4*w*i:4*w*(i+1)])
		}
	}
	return s.finish()
}

// rowConverter turns decoded pictures into RGB rows the way Pillow's convert("RGB")
// does (grey replicated, palette looked up, alpha dropped without compositing, 16-bit
// samples' high byte), reusing one row buffer.
type rowConverter struct {
	buf     []uint8
	pal     [][3]uint8
	palFrom color.Palette
}

// rows calls f with each row of m, as packed RGB valid until the next call.
func (r *rowConverter) rows(m image.Image, f func(y int, rgb []uint8)) error {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	if cap(r.buf) < 3*w {
		r.buf = make([]uint8, 3*w)
	}
	out := r.buf[:3*w]
	put := func(x int, cr, cg, cb uint8) { out[3*x], out[3*x+1], out[3*x+2] = cr, cg, cb }
	for y := 0; y < h; y++ {
		switch s := m.(type) {
		case *image.Gray:
			for x, v := range s.Pix[y*s.Stride : y*s.Stride+w] {
				put(x, v, v, v)
			}
		case *image.NRGBA:
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+4*x:]
				put(x, p[0], p[1], p[2])
			}
		case *image.RGBA:
			// Go decodes opaque PNGs to RGBA; its colours are only premultiplied where
			// alpha < 255, which NRGBA undoes as well as it can.
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+4*x:]
				if p[3] == 255 {
					put(x, p[0], p[1], p[2])
				} else {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					put(x, c.R, c.G, c.B)
				}
			}
		case *image.Paletted:
			pal := r.palette(s.Palette)
			for x, idx := range s.Pix[y*s.Stride : y*s.Stride+w] {
				if int(idx) >= len(pal) {
					return fmt.Errorf("palette index %d outside a palette of %d colours", idx, len(pal))
				}
				p := pal[idx]
				put(x, p[0], p[1], p[2])
			}
		case *image.NRGBA64: // 16-bit samples: their high byte
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+8*x:]
				put(x, p[0], p[2], p[4])
			}
		case *image.Gray16:
			for x := 0; x < w; x++ {
				v := s.Pix[y*s.Stride+2*x]
				put(x, v, v, v)
			}
		case *image.RGBA64:
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+8*x:]
				if p[6] == 0xff && p[7] == 0xff { // opaque: nothing to undo
					put(x, p[0], p[2], p[4])
				} else {
					c := color.NRGBA64Model.Convert(s.RGBA64At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
					put(x, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
				}
			}
		default:
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				put(x, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
			}
		}
		f(y, out)
	}
	return nil
}

// palette converts a palette to RGB once, not once a row.
func (r *rowConverter) palette(p color.Palette) [][3]uint8 {
	if r.pal != nil && len(p) == len(r.palFrom) && (len(p) == 0 || &p[0] == &r.palFrom[0]) {
		return r.pal
	}
	r.pal, r.palFrom = make([][3]uint8, len(p)), p
	for i, c := range p {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		if rc, ok := c.(color.RGBA); ok && rc.A == 255 {
			n = color.NRGBA{rc.R, rc.G, rc.B, 255}
		}
		r.pal[i] = [3]uint8{n.R, n.G, n.B}
	}
	return r.pal
}
