// browsercouch's glue around Apache CouchDB 3.4.3's JavaScript query server (the other files here, as
// CouchDB bundles them for QuickJS: src/couch_quickjs/build_js.escript). CouchDB's couchjs supplies
// print, gc and evalcx in C (src/couch_quickjs/c_src/couchjs.c); an embedding engine has only plain
// JavaScript, so they are written here, and __browsercouch_dispatch runs a batch of protocol lines.

var __browsercouch_out = [];

function print(line) {
  __browsercouch_out.push(String(line));
}

function gc() {}

// Evaluate a design function's source with the sandbox's members as its free variables. CouchDB's
// QuickJS evaluates "function(doc) {...}" as a script (its SpiderMonkey-compatible mode); standard
// JavaScript needs it as an expression, so the source is tried as one first (without a trailing ";"),
// then as a script whose completion value is the function; if neither parses, the first error tells.
function evalcx(source, sandbox, name) {
  var run = new Function("__sandbox", "__source", "with (__sandbox) { return eval(__source); }");
  var expression = String(source).replace(/[\s;]+$/, "");
  try {
    return run(sandbox, "(" + expression + "\n)");
  } catch (first) {
    if (!(first instanceof SyntaxError)) throw first;
    try {
      return run(sandbox, String(source));
    } catch (second) {
      throw (second instanceof SyntaxError) ? first : second;
    }
  }
}

// batch: a JSON array of protocol commands (each an array). Answers a JSON array with one entry per
// command run: [keep_going, [printed JSON values...]]. A command whose dispatch says stop (a fatal
// error) ends the batch, as couchjs exits there. Each goes to dispatch as the line couchjs would read.
globalThis.__browsercouch_dispatch = function(batch) {
  var commands = JSON.parse(batch);
  var answers = [];
  for (var i = 0; i < commands.length; i++) {
    __browsercouch_out = [];
    var keep = dispatch(JSON.stringify(commands[i]));
    answers.push("[" + (keep ? "true" : "false") + ",[" + __browsercouch_out.join(",") + "]]");
    if (!keep) break;
  }
  __browsercouch_out = [];
  return "[" + answers.join(",") + "]";
};
