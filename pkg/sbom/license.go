package sbom

import (
	"bytes"
	"regexp"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// licenseOf returns the SPDX license expression of a machine-readable
// Debian copyright file (DEP-5, "Format: …copyright-format/1.0…"): the
// License of every Files paragraph, each converted to SPDX, joined with AND.
// Names without an SPDX identifier become LicenseRef-… and their text (from
// the file's stand-alone License paragraph, when it has one) is recorded in
// texts. A file that is not machine-readable gives "".
func licenseOf(data []byte, texts map[string]string) string {
	var paras []apt.Paragraph
	if err := apt.ParseParagraphs(bytes.NewReader(data), func(p apt.Paragraph) error {
		paras = append(paras, p)
		return nil
	}); err != nil || len(paras) == 0 {
		return ""
	}
	if !strings.Contains(paras[0].Get("Format"), "copyright-format") {
		return ""
	}
	standalone := map[string]string{}
	for _, p := range paras {
		if p.Has("Files") || !p.Has("License") {
			continue
		}
		name, text, _ := strings.Cut(p.Get("License"), "\n")
		standalone[strings.TrimSpace(name)] = text
	}
	seen := map[string]bool{}
	var exprs []string
	for _, p := range paras {
		if !p.Has("Files") {
			continue
		}
		name, _, _ := strings.Cut(p.Get("License"), "\n")
		e := spdxExpression(strings.TrimSpace(name), standalone, texts)
		if e != "" && !seen[e] {
			seen[e] = true
			exprs = append(exprs, e)
		}
	}
	sort.Strings(exprs)
	for i, e := range exprs {
		if len(exprs) > 1 && strings.Contains(e, " ") {
			exprs[i] = "(" + e + ")"
		}
	}
	return strings.Join(exprs, " AND ")
}

// spdxExpression converts one DEP-5 License expression ("GPL-2+ or
// Artistic", "BSD-3-clause and Expat", "GPL-2+ with OpenSSL exception").
func spdxExpression(s string, standalone, texts map[string]string) string {
	s = strings.ReplaceAll(s, ",", " ")
	fields := strings.Fields(s)
	var out []string
	for i := 0; i < len(fields); i++ {
		switch strings.ToLower(fields[i]) {
		case "or":
			out = append(out, "OR")
			continue
		case "and":
			out = append(out, "AND")
			continue
		}
		name := fields[i]
		// "NAME with EXCEPTION exception": one LicenseRef, DEP-5 names the
		// exceptions freely.
		if i+1 < len(fields) && strings.EqualFold(fields[i+1], "with") {
			j := i + 2
			for j < len(fields) && !strings.EqualFold(fields[j], "or") && !strings.EqualFold(fields[j], "and") {
				j++
			}
			name = strings.Join(fields[i:j], " ")
			i = j - 1
		}
		out = append(out, licenseID(name, standalone, texts))
	}
	// Drop dangling operators (a malformed field) rather than emit an
	// invalid expression.
	for len(out) > 0 && (out[0] == "OR" || out[0] == "AND") {
		out = out[1:]
	}
	for len(out) > 0 && (out[len(out)-1] == "OR" || out[len(out)-1] == "AND") {
		out = out[:len(out)-1]
	}
	return strings.Join(out, " ")
}

// spdxIDs maps the short names of the Debian copyright format (and common
// variants found in the archive) to SPDX identifiers, lower-cased.
var spdxIDs = map[string]string{
	"apache-2.0": "Apache-2.0", "apache-2": "Apache-2.0", "apache-1.1": "Apache-1.1",
	"artistic": "Artistic-1.0", "artistic-1.0": "Artistic-1.0", "artistic-2.0": "Artistic-2.0",
	"bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause",
	"bsl-1.0": "BSL-1.0", "cc0-1.0": "CC0-1.0", "cc0": "CC0-1.0", "cc-by-3.0": "CC-BY-3.0", "cc-by-4.0": "CC-BY-4.0",
	"cc-by-sa-3.0": "CC-BY-SA-3.0", "cc-by-sa-4.0": "CC-BY-SA-4.0",
	"expat": "MIT", "mit": "MIT", "isc": "ISC", "zlib": "Zlib", "libpng": "Libpng", "ftl": "FTL",
	"mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "epl-1.0": "EPL-1.0", "epl-2.0": "EPL-2.0",
	"psf-2": "PSF-2.0", "python-2.0": "Python-2.0", "python": "Python-2.0",
	"postgresql": "PostgreSQL", "openssl": "OpenSSL", "curl": "curl", "x11": "X11", "unicode-dfs-2016": "Unicode-DFS-2016",
	"openldap-2.8": "OLDAP-2.8", "sleepycat": "Sleepycat", "wtfpl": "WTFPL", "unlicense": "Unlicense",
	"0bsd": "0BSD", "ofl-1.1": "OFL-1.1", "bzip2-1.0.6": "bzip2-1.0.6", "icu": "ICU", "ijg": "IJG",
	"gpl-2.0-only": "GPL-2.0-only", "gpl-2.0-or-later": "GPL-2.0-or-later",
	"gpl-3.0-only": "GPL-3.0-only", "gpl-3.0-or-later": "GPL-3.0-or-later",
	"lgpl-2.1-only": "LGPL-2.1-only", "lgpl-2.1-or-later": "LGPL-2.1-or-later",
}

// gnuLicense matches GPL-2, GPL-2+, LGPL-2.1+, AGPL-3.0, GFDL-1.3+ and the
// like; SPDX spells them with -only / -or-later.
var gnuLicense = regexp.MustCompile(`^(?i)(GPL|LGPL|AGPL|GFDL)-([0-9]+)(\.[0-9]+)?(\+)?$`)

var licenseRefChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func licenseID(name string, standalone, texts map[string]string) string {
	if id, ok := spdxIDs[strings.ToLower(name)]; ok {
		return id
	}
	if m := gnuLicense.FindStringSubmatch(name); m != nil {
		minor := m[3]
		if minor == "" {
			minor = ".0"
		}
		suffix := "-only"
		if m[4] != "" {
			suffix = "-or-later"
		}
		return strings.ToUpper(m[1]) + "-" + m[2] + minor + suffix
	}
	ref := "LicenseRef-" + strings.Trim(licenseRefChars.ReplaceAllString(name, "-"), "-")
	if _, ok := texts[ref]; !ok {
		text := licenseText(standalone[name])
		if text == "" {
			text = "License named \"" + name + "\" in the package's Debian copyright file."
		}
		texts[ref] = text
	}
	return ref
}

// licenseText turns a deb822 continuation block (" line", " .") into text.
func licenseText(v string) string {
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		l = strings.TrimPrefix(l, " ")
		if l == "." {
			l = ""
		}
		lines[i] = l
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
