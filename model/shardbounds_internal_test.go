package model

import "testing"

// The main worker's extra MLP slice is taken only where the second MLP layer's int8
// groups allow the cut: a model converted with -group 128 or 256 splits evenly, as it
// did before the slice (where the even cut fits its groups, it still does), and every
// cut is at whole 64s, which groups of 16 to 64 fit. Two shards, whose blocks chain,
// split evenly.
func TestShardBoundsKeepGroups(t *testing.T) {
	const heads, units = 16, 4096
	for _, group := range []int{0, 16, 32, 64, 128, 256} {
		for count := 2; count <= 4; count++ {
			_, _, _, main := shardBounds(heads, units, 0, count, group)
			_, even := span(units, 64, 0, count)
			for i := 0; i < count; i++ {
				_, _, i0, i1 := shardBounds(heads, units, i, count, group)
				_, evenEnd := span(units, 64, i, count)
				if group > 64 && i1 != evenEnd {
					t.Errorf("group %d, %d of %d: units end at %d, the even cut at %d", group, i, count, i1, evenEnd)
				}
				if i0%64 != 0 || i1%64 != 0 { // 64-unit cuts fit groups of 16, 32, 64
					t.Errorf("group %d, %d of %d: units [%d,%d), not whole 64s", group, i, count, i0, i1)
				}
			}
			want := even + 64
			if count == 2 {
				want = even
			}
			if group <= 64 && main != want {
				t.Errorf("group %d, main of %d: %d units, want %d", group, count, main, want)
			}
		}
	}
}
