// Types of comet.mjs (the package's `import` entry): the one declaration, comet.d.ts, as a module.
/// <reference path="./comet.d.ts" />
export default Comet;
export import Client = Comet.Client;
export declare const compareIds: typeof Comet.compareIds;
