// `mahavishnu run PROFILE --tool pi` loads this Pi extension (`pi --extension THIS`): it registers the
// provider passed in MAHAVISHNU_RUN_PI_PROVIDER (JSON: baseUrl, api, apiKey = the NAME of the variable
// holding the key, models) for this one process; no file of Pi's is read or written for it.
export default function (pi) {
  const provider = process.env.MAHAVISHNU_RUN_PI_PROVIDER;
  if (provider) pi.registerProvider("mahavishnu-run", JSON.parse(provider));
}
