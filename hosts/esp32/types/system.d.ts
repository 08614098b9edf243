// Moddable SDK 8.2.3, modules/io/system/system.js: the module exports nothing; importing it
// installs the global System (restart, deepSleep, ...). Declared so the side-effect import
// type-checks here; mcconfig resolves it to the module's source itself.
declare module "system";
