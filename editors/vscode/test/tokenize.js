// Tokenises .cnn files with the TextMate grammar the way VS Code does (vscode-textmate on the
// Oniguruma regex engine) and prints, as JSON, each file's lines as lists of
// [start column, end column, scopes]. Run by tests/test_highlighting.py.
"use strict";
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
const grammarFile = path.join(__dirname, "..", "syntaxes", "cnn.tmLanguage.json");

async function main(files) {
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === "source.cnn"
        ? textmate.parseRawGrammar(fs.readFileSync(grammarFile, "utf8"), grammarFile)
        : null,
  });
  const grammar = await registry.loadGrammar("source.cnn");
  const result = {};
  for (const file of files) {
    let state = textmate.INITIAL;
    result[file] = fs.readFileSync(file, "utf8").split(/\r?\n/).map((line) => {
      const tokens = grammar.tokenizeLine(line, state);
      state = tokens.ruleStack;
      return tokens.tokens.map((t) => [t.startIndex, Math.min(t.endIndex, line.length), t.scopes]);
    });
  }
  process.stdout.write(JSON.stringify(result));
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
