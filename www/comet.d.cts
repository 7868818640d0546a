// Types of comet.js under require() (the package's `require` entry): comet.d.ts's namespace.
/// <reference path="./comet.d.ts" />
export = Comet;
