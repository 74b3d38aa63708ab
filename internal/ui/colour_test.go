package ui_test

import (
	"fmt"
	"math"
	"testing"
)

// Colour arithmetic for the browser tests that judge what the user sees:
// CIEDE2000 distances (also under simulated colour-vision deficiency,
// Machado et al. 2009, severity 1) and WCAG contrast ratios.

type rgb [3]float64 // sRGB components in 0..1

// parseCSSColour reads the "rgb(r, g, b)" / "rgba(r, g, b, a)" form
// getComputedStyle returns.
func parseCSSColour(s string) (rgb, error) {
	var c rgb
	var r, g, b float64
	if _, err := fmt.Sscanf(s, "rgb(%g, %g, %g)", &r, &g, &b); err != nil {
		var a float64
		if _, err2 := fmt.Sscanf(s, "rgba(%g, %g, %g, %g)", &r, &g, &b, &a); err2 != nil {
			return c, fmt.Errorf("colour %q: %w", s, err)
		}
	}
	return rgb{r / 255, g / 255, b / 255}, nil
}

func parseHex(s string) rgb {
	var r, g, b int
	if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b); err != nil {
		panic(fmt.Sprintf("colour %q: %v", s, err))
	}
	return rgb{float64(r) / 255, float64(g) / 255, float64(b) / 255}
}

func linear(c float64) float64 {
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func (c rgb) linear() [3]float64 { return [3]float64{linear(c[0]), linear(c[1]), linear(c[2])} }

func luminance(c rgb) float64 {
	l := c.linear()
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

// contrast is the WCAG 2 contrast ratio.
func contrast(a, b rgb) float64 {
	x, y := luminance(a), luminance(b)
	return (math.Max(x, y) + 0.05) / (math.Min(x, y) + 0.05)
}

// Vision is a colour-vision simulation matrix on linear RGB.
type vision [3][3]float64

var (
	normal = vision{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	deutan = vision{{0.367322, 0.860646, -0.227968}, {0.280085, 0.672501, 0.047413}, {-0.011820, 0.042940, 0.968881}}
	protan = vision{{0.152286, 1.052583, -0.204868}, {0.114503, 0.786281, 0.099216}, {-0.003882, -0.048116, 1.051998}}
)

type lab [3]float64

func toLab(c rgb, v vision) lab {
	l := c.linear()
	var s [3]float64
	for i := range s {
		s[i] = math.Max(0, math.Min(1, v[i][0]*l[0]+v[i][1]*l[1]+v[i][2]*l[2]))
	}
	x := (0.4124*s[0] + 0.3576*s[1] + 0.1805*s[2]) / 0.95047
	y := 0.2126*s[0] + 0.7152*s[1] + 0.0722*s[2]
	z := (0.0193*s[0] + 0.1192*s[1] + 0.9505*s[2]) / 1.08883
	f := func(t float64) float64 {
		if t > 0.008856 {
			return math.Cbrt(t)
		}
		return 7.787*t + 16.0/116
	}
	return lab{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

// deltaE2000 is the CIEDE2000 colour difference.
func deltaE2000(p, q lab) float64 {
	rad := math.Pi / 180
	c1, c2 := math.Hypot(p[1], p[2]), math.Hypot(q[1], q[2])
	cb := (c1 + c2) / 2
	g := 0.5 * (1 - math.Sqrt(math.Pow(cb, 7)/(math.Pow(cb, 7)+math.Pow(25, 7))))
	a1, a2 := p[1]*(1+g), q[1]*(1+g)
	c1p, c2p := math.Hypot(a1, p[2]), math.Hypot(a2, q[2])
	hue := func(b, a float64) float64 {
		h := math.Atan2(b, a) / rad
		if h < 0 {
			h += 360
		}
		return h
	}
	h1, h2 := hue(p[2], a1), hue(q[2], a2)
	dL, dC := q[0]-p[0], c2p-c1p
	dh := h2 - h1
	switch {
	case c1p*c2p == 0:
		dh = 0
	case dh > 180:
		dh -= 360
	case dh < -180:
		dh += 360
	}
	dH := 2 * math.Sqrt(c1p*c2p) * math.Sin(dh*rad/2)
	lb, cbp := (p[0]+q[0])/2, (c1p+c2p)/2
	hb := h1 + h2
	if c1p*c2p != 0 {
		if math.Abs(h1-h2) > 180 {
			if hb < 360 {
				hb += 360
			} else {
				hb -= 360
			}
		}
		hb /= 2
	}
	t := 1 - 0.17*math.Cos((hb-30)*rad) + 0.24*math.Cos(2*hb*rad) + 0.32*math.Cos((3*hb+6)*rad) - 0.2*math.Cos((4*hb-63)*rad)
	dth := 30 * math.Exp(-math.Pow((hb-275)/25, 2))
	rc := 2 * math.Sqrt(math.Pow(cbp, 7)/(math.Pow(cbp, 7)+math.Pow(25, 7)))
	sl := 1 + 0.015*math.Pow(lb-50, 2)/math.Sqrt(20+math.Pow(lb-50, 2))
	sc, sh := 1+0.045*cbp, 1+0.015*cbp*t
	rt := -math.Sin(2*dth*rad) * rc
	return math.Sqrt(math.Pow(dL/sl, 2) + math.Pow(dC/sc, 2) + math.Pow(dH/sh, 2) + rt*(dC/sc)*(dH/sh))
}

// minPairDistance is the smallest CIEDE2000 distance between two of the
// named colours as seen with vision v, and that pair.
func minPairDistance(colours map[string]rgb, v vision) (float64, string) {
	best, pair := math.Inf(1), ""
	names := make([]string, 0, len(colours))
	for n := range colours {
		names = append(names, n)
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if d := deltaE2000(toLab(colours[names[i]], v), toLab(colours[names[j]], v)); d < best {
				best, pair = d, names[i]+"/"+names[j]
			}
		}
	}
	return best, pair
}

// The colour helpers against published values: Sharma, Wu and Dalal's
// CIEDE2000 test data (pairs 1 and 17) and WCAG's black on white.
func TestColourHelpers(t *testing.T) {
	for _, c := range []struct {
		p, q lab
		want float64
	}{
		{lab{50, 2.6772, -79.7751}, lab{50, 0, -82.7485}, 2.0425},
		{lab{50, 2.5, 0}, lab{73, 25, -18}, 27.1492},
	} {
		if got := deltaE2000(c.p, c.q); math.Abs(got-c.want) > 1e-3 {
			t.Errorf("deltaE2000(%v, %v) = %.4f, want %.4f", c.p, c.q, got, c.want)
		}
	}
	if got := contrast(parseHex("#000000"), parseHex("#ffffff")); math.Abs(got-21) > 1e-9 {
		t.Errorf("contrast black/white = %v", got)
	}
	c, err := parseCSSColour("rgb(230, 159, 0)")
	if err != nil || c != parseHex("#e69f00") {
		t.Errorf("parseCSSColour: %v %v", c, err)
	}
	// A deuteranope cannot tell this red and green apart; normal vision can.
	red, green := parseHex("#e15759"), parseHex("#59a14f")
	if d := deltaE2000(toLab(red, normal), toLab(green, normal)); d < 30 {
		t.Errorf("red/green normal ΔE %v", d)
	}
	if d := deltaE2000(toLab(red, deutan), toLab(green, deutan)); d > 3 {
		t.Errorf("red/green deutan ΔE %v", d)
	}
}
