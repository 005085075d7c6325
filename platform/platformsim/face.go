package platformsim

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/sscagent/sscagent/platform/protocol"
)

// The built-in test portraits: portraits/<idNumber>.jpg, small synthetic JPEGs (not
// photographs of anyone) standing for the registered portraits of 张三 and 李四. A
// kiosk test sends one as the photograph taken at the terminal.
//
//go:embed portraits/*.jpg
var portraits embed.FS

// Portrait returns the built-in test portrait of a person, false without one.
func Portrait(idNumber string) ([]byte, bool) {
	b, err := portraits.ReadFile("portraits/" + idNumber + ".jpg")
	return b, err == nil
}

// Face comparison scores of the sandbox: a registered image scores FaceScoreMatch, any
// other JPEG a score below FaceThreshold derived from its hash.
const (
	FaceThreshold  = "80.00"
	FaceScoreMatch = "96.40"
)

// faceVerify answers faceVerify: pass when the image is one of the person's registered
// portraits, fail with a low score for any other JPEG.
func (st *state) faceVerify(d protocol.Data) (protocol.Data, string, string) {
	p := st.reg.person(d.Get("idNumber"))
	if p == nil {
		return fail(protocol.CodePersonUnknown)
	}
	img, err := base64.StdEncoding.DecodeString(d.Get("image"))
	if err != nil || protocol.CheckJPEG(img) != nil {
		return fail(protocol.CodeBadRequest)
	}
	builtIn, ok := Portrait(p.IDNumber)
	if !ok && len(p.Portraits) == 0 {
		return fail(protocol.CodeNoPortrait)
	}
	sum := sha256.Sum256(img)
	var r protocol.Data
	r.Set("threshold", FaceThreshold)
	if (ok && bytes.Equal(img, builtIn)) || slices.Contains(p.Portraits, hex.EncodeToString(sum[:])) {
		r.Set("result", protocol.FacePass)
		r.Set("score", FaceScoreMatch)
	} else {
		r.Set("result", protocol.FaceFail)
		r.Set("score", fmt.Sprintf("%d.%02d", 10+int(sum[0])%60, int(sum[1])%100))
	}
	return r, protocol.CodeOK, ""
}

// checkPortraits checks a person's registered portrait hashes.
func checkPortraits(p Person) error {
	for _, h := range p.Portraits {
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size || strings.ToLower(h) != h {
			return fmt.Errorf("portraits: %q is not a lower-case SHA-256 in hex", h)
		}
	}
	return nil
}
