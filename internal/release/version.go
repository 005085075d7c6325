package release

import (
	"strconv"
	"strings"
)

// CompareVersions orders two release versions of the form [v]MAJOR.MINOR.PATCH with an
// optional -PRERELEASE (semantic versioning's precedence: a pre-release sorts before its
// release; pre-releases compare by their dot-separated identifiers, numbers numerically).
// ok is false when either is not such a version ("dev", a commit): then no order is
// known.
func CompareVersions(a, b string) (cmp int, ok bool) {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !oka || !okb {
		return 0, false
	}
	for i := range 3 {
		if pa.num[i] != pb.num[i] {
			return sign(pa.num[i] - pb.num[i]), true
		}
	}
	switch {
	case pa.pre == "" && pb.pre == "":
		return 0, true
	case pa.pre == "":
		return 1, true
	case pb.pre == "":
		return -1, true
	}
	ia, ib := strings.Split(pa.pre, "."), strings.Split(pb.pre, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		na, ea := strconv.ParseUint(ia[i], 10, 64)
		nb, eb := strconv.ParseUint(ib[i], 10, 64)
		switch {
		case ea == nil && eb == nil && na != nb:
			if na < nb {
				return -1, true
			}
			return 1, true
		case ea == nil && eb != nil: // numeric identifiers sort first
			return -1, true
		case ea != nil && eb == nil:
			return 1, true
		case ia[i] != ib[i]:
			return strings.Compare(ia[i], ib[i]), true
		}
	}
	return sign(len(ia) - len(ib)), true
}

type parsedVersion struct {
	num [3]int
	pre string
}

func parseVersion(s string) (parsedVersion, bool) {
	var p parsedVersion
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+") // build metadata does not order
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre && pre == "" {
		return p, false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return p, false
	}
	for i, x := range parts {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 || (len(x) > 1 && x[0] == '0') {
			return p, false
		}
		p.num[i] = n
	}
	p.pre = pre
	return p, true
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}
