// ESLint for the project's own JavaScript: the web app, the extension and the test scripts.
// `python build.py test` runs it from the repository root:
//   tests/node/node_modules/.bin/eslint --config tests/node/eslint.config.js
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["**/node_modules/**", ".venv/**", "web/dist/**", "web/dist.tmp/**", "web/vendor/**", "browsercouch/extension/**",
              "browsercouch/extension.tmp/**", "build/**", "tests/artifacts/**"] },
  js.configs.recommended,
  {
    files: ["web/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.worker, ...globals.sharedWorker, ...globals.serviceworker,
                 chrome: "readonly" },
    },
  },
  {
    files: ["tests/**/*.js", "tests/**/*.mjs", "bench/**/*.js", "bench/**/*.mjs"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.node, ...globals.browser },
    },
  },
  {
    // Scripts Selenium runs in a page (execute_async_script): a function body, given `arguments`.
    files: ["tests/e2e/*_check.js"],
    languageOptions: { sourceType: "script", globals: { arguments: "readonly" } },
  },
  { rules: { "no-unused-vars": ["error", { caughtErrors: "none", ignoreRestSiblings: true }] } },
];
