// Turns the Unicode consortium's confusables.txt (UTS #39 data) into src/server/confusables-table.ts.
//
// Usage: node scripts/gen-confusables.mjs path/to/confusables.txt
//
// The data file is not kept in the repository (745 KB). Get the version named in the generated
// table's header from the UTS #39 data files (linked from https://www.unicode.org/reports/tr39/),
// check its SHA-256 against that header, and run this script. Match the Unicode version to the one Node's ICU implements
// (`node -p process.versions.unicode`): NFD and NFKC come from ICU, the prototypes from this file.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Unicode License v3 notice, which must travel with copies of the data. */
const UNICODE_LICENSE_V3 = `UNICODE LICENSE V3

COPYRIGHT AND PERMISSION NOTICE

Copyright © COPYRIGHT_YEARS Unicode, Inc.

NOTICE TO USER: Carefully read the following legal agreement. BY
DOWNLOADING, INSTALLING, COPYING OR OTHERWISE USING DATA FILES, AND/OR
SOFTWARE, YOU UNEQUIVOCALLY ACCEPT, AND AGREE TO BE BOUND BY, ALL OF THE
TERMS AND CONDITIONS OF THIS AGREEMENT. IF YOU DO NOT AGREE, DO NOT
DOWNLOAD, INSTALL, COPY, DISTRIBUTE OR USE THE DATA FILES OR SOFTWARE.

Permission is hereby granted, free of charge, to any person obtaining a
copy of data files and any associated documentation (the "Data Files") or
software and any associated documentation (the "Software") to deal in the
Data Files or Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, and/or sell
copies of the Data Files or Software, and to permit persons to whom the
Data Files or Software are furnished to do so, provided that either (a)
this copyright and permission notice appear with all copies of the Data
Files or Software, or (b) this copyright and permission notice appear in
associated Documentation.

THE DATA FILES AND SOFTWARE ARE PROVIDED "AS IS", WITHOUT WARRANTY OF ANY
KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT OF
THIRD PARTY RIGHTS.

IN NO EVENT SHALL THE COPYRIGHT HOLDER OR HOLDERS INCLUDED IN THIS NOTICE
BE LIABLE FOR ANY CLAIM, OR ANY SPECIAL INDIRECT OR CONSEQUENTIAL DAMAGES,
OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS,
WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION,
ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THE DATA
FILES OR SOFTWARE.

Except as contained in this notice, the name of a copyright holder shall
not be used in advertising or otherwise to promote the sale, use or other
dealings in these Data Files or Software without prior written
authorization of the copyright holder.

SPDX-License-Identifier: Unicode-3.0`;

const input = process.argv[2];
if (!input) {
  console.error("usage: node scripts/gen-confusables.mjs path/to/confusables.txt");
  process.exit(2);
}
const raw = readFileSync(input);
const text = raw.toString("utf8");
const sha256 = createHash("sha256").update(raw).digest("hex");

const version = /^# Version: (\S+)/m.exec(text)?.[1];
const date = /^# Date: (.+)$/m.exec(text)?.[1]?.trim();
const copyrightYear = /^# © (\d{4}) Unicode/m.exec(text)?.[1];
if (!version || !date || !copyrightYear) throw new Error("no '# Version:', '# Date:' or '# ©' header: is this confusables.txt?");

/** Source code point -> prototype code points, in file order. */
const entries = new Map();
for (const [index, line] of text.split("\n").entries()) {
  const data = line.replace(/#.*/, "").trim();
  if (data === "") continue;
  const fields = data.split(";").map((f) => f.trim());
  // Since Unicode 9 every line is of type MA (the single mixed-script, any-case table).
  if (fields.length !== 3 || fields[2] !== "MA") {
    throw new Error(`line ${index + 1}: expected 'source ; prototype ; MA', got ${JSON.stringify(line)}`);
  }
  const source = fields[0];
  if (!/^[0-9A-F]{4,6}$/.test(source)) throw new Error(`line ${index + 1}: bad source ${source}`);
  const prototype = fields[1].split(/\s+/);
  if (!prototype.every((cp) => /^[0-9A-F]{4,6}$/.test(cp))) {
    throw new Error(`line ${index + 1}: bad prototype ${fields[1]}`);
  }
  const cp = parseInt(source, 16);
  if (entries.has(cp)) throw new Error(`line ${index + 1}: ${source} listed twice`);
  entries.set(cp, prototype.map((p) => parseInt(p, 16)));
}
if (entries.size < 1000) throw new Error(`only ${entries.size} entries: truncated file?`);

// Sanity check the skeleton relies on: a prototype is never itself mapped further (the file is
// the transitive closure), so one pass of the table is enough.
let chained = 0;
for (const prototype of entries.values()) for (const cp of prototype) if (entries.has(cp)) chained++;
if (chained > 0) console.warn(`warning: ${chained} prototype code points are themselves sources`);

// Compact form: sorted by source; each entry is "<source hex>:<prototype hex, space separated>",
// entries separated by ",". Hex keeps the table readable and diffable and free of raw invisible
// or right-to-left characters in the source file.
const hex = (cp) => cp.toString(16);
const encoded = [...entries.keys()]
  .sort((a, b) => a - b)
  .map((cp) => `${hex(cp)}:${entries.get(cp).map(hex).join(" ")}`);

const lines = [];
for (let i = 0; i < encoded.length; i += 12) lines.push(`  "${encoded.slice(i, i + 12).join(",")}",`);

const out = `// GENERATED by scripts/gen-confusables.mjs: do not edit by hand.
//
// Source: confusables.txt, the data file of UTS #39 Unicode Security Mechanisms,
// Version ${version}, dated ${date}, published by the Unicode Consortium: linked from
// https://www.unicode.org/reports/tr39/ ("Data Files"); the same file is kept in the
// consortium's unicodetools repository at unicodetools/data/security/${version}/confusables.txt.
// SHA-256 of the input file: ${sha256}
// ${entries.size} mappings (every line of the file; all are of type MA).
//
// Data © ${copyrightYear} Unicode, Inc., used under the Unicode License v3, whose notice follows.
// Unicode and the Unicode Logo are registered trademarks of Unicode, Inc.
//
${UNICODE_LICENSE_V3.replace("COPYRIGHT_YEARS", copyrightYear).split("\n").map((l) => `// ${l}`.trimEnd()).join("\n")}

/** The UTS #39 version of the data below; keep it equal to Node's \`process.versions.unicode\`. */
export const CONFUSABLES_UNICODE_VERSION = ${JSON.stringify(version)};

/** "<source>:<prototype code points>" in hex, comma separated, sorted by source. */
const ENCODED = [
${lines.join("\n")}
].join(",");

/** Code point -> its prototype (the string it is confusable with), per confusables.txt. */
export const CONFUSABLE_PROTOTYPES: ReadonlyMap<number, string> = decode(ENCODED);

function decode(encoded: string): Map<number, string> {
  const table = new Map<number, string>();
  for (const entry of encoded.split(",")) {
    const colon = entry.indexOf(":");
    const prototype = entry.slice(colon + 1).split(" ").map((cp) => parseInt(cp, 16));
    table.set(parseInt(entry.slice(0, colon), 16), String.fromCodePoint(...prototype));
  }
  return table;
}
`;

writeFileSync(
  join(dirname(fileURLToPath(import.meta.url)), "..", "src", "server", "confusables-table.ts"),
  out,
);
console.log(`wrote src/server/confusables-table.ts: ${entries.size} mappings, ${out.length} characters, Unicode ${version}`);
