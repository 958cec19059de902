package adf

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hostileInputs are inputs of up to MaxSize built to cost Parse the most time or memory.
func hostileInputs() map[string]string {
	var attrs strings.Builder
	attrs.WriteString("<adf><prospect><vehicle ")
	for i := 0; attrs.Len() < MaxSize-100; i++ {
		fmt.Fprintf(&attrs, "a%d=1 ", i)
	}
	attrs.WriteString(">")
	return map[string]string{
		"one tag, 600k attributes": attrs.String(),
		"entities in one field":    "<adf><prospect><customer><comments>" + strings.Repeat("&amp;a ", MaxSize/8),
		"bare ampersands":          "<adf><prospect><customer><name>" + strings.Repeat("&", MaxSize-40),
		"bare less-thans":          "<adf><prospect>" + strings.Repeat("<", MaxSize-20),
		"tags in comments":         "<adf><prospect><customer><comments>" + strings.Repeat("<b>x", MaxSize/4-20),
		"stray end tags":           "<adf><prospect>" + strings.Repeat("<a>", 60) + strings.Repeat("</z>", MaxSize/4-100),
		"escaped markers":          strings.Repeat("&lt;adf&gt;", MaxSize/12),
		"almost markers":           strings.Repeat("<ad", MaxSize/3),
		"open CDATA":               "<adf><prospect><customer><comments><![CDATA[" + strings.Repeat("]", MaxSize-60),
		"open comment":             "<adf><prospect><customer><comments><!--" + strings.Repeat("-", MaxSize-60),
		"latin-1 text":             "<adf><prospect><customer><comments>" + strings.Repeat("\xe9", MaxSize-60),
		"many prospects":           "<adf>" + strings.Repeat("<prospect><id>1</id>", MaxSize/20-1),
		"many phones":              "<adf><prospect><customer>" + strings.Repeat("<phone>1</phone>", MaxSize/16-10),
	}
}

// TestHostileInputsBounded checks that Parse allocates at most ten times each hostile
// input (a quadratic path would allocate far more). How long each takes is measured by
// BenchmarkHostile: under 250 ms each here (docs/BENCHMARKS.md).
func TestHostileInputsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MB in all")
	}
	for name, in := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ps, err := Parse([]byte(in))
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %d MB allocated, %d prospects, error %v", len(in), alloc>>20, len(ps), err)
			if alloc > 10*MaxSize {
				t.Errorf("Parse allocated %d MB", alloc>>20)
			}
		})
	}
}

// BenchmarkHostile parses each hostile input.
func BenchmarkHostile(b *testing.B) {
	for name, in := range hostileInputs() {
		data := []byte(in)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse(data)
			}
		})
	}
}

// TestLongTextAfterADF checks that a text longer than the tokenizer's buffer after a
// complete ADF block (a long plain-text mail) costs nothing read before it.
func TestLongTextAfterADF(t *testing.T) {
	in := "<adf><prospect><customer><contact><name>Ann</name><phone>555-0101</phone></contact></customer></prospect></adf>\n" +
		strings.Repeat("quoted earlier mail ", 2*maxToken/20)
	ps, err := Parse([]byte(in))
	if err != nil || len(ps) != 1 || ps[0].Lead().Phone != "555-0101" {
		t.Fatalf("Parse = %+v, %v", ps, err)
	}
}

// TestFieldTextCapped checks that a field keeps at most maxField bytes, cut on a
// character boundary.
func TestFieldTextCapped(t *testing.T) {
	in := "<adf><prospect><customer><comments>a" + strings.Repeat("é", maxField) + "</comments></customer></prospect></adf>"
	ps, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	c := ps[0].Comments
	if len(c) > maxField || !strings.HasPrefix(c, "aéé") || strings.ContainsRune(c, '\uFFFD') {
		t.Errorf("comments of %d bytes, starting %q", len(c), c[:8])
	}
}
