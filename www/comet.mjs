// comet.mjs: comet.js as an ES module. comet.js is a classic script (it must be, for
// <script src>); importing it for its effect defines globalThis.Comet, which this re-exports.
//   import Comet, { Client } from '/comet/comet.mjs';
import './comet.js';

const Comet = globalThis.Comet;
export default Comet;
export const Client = Comet.Client;
export const compareIds = Comet.compareIds;
