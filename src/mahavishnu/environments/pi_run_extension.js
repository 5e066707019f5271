// `mahavishnu run PROFILE --tool pi` loads this Pi extension (`pi --extension THIS`): it registers the
// provider passed in MAHAVISHNU_RUN_PI_PROVIDER (JSON: baseUrl, api, apiKey = the NAME of the variable
// holding the key, models) under the profile's run provider name, MAHAVISHNU_RUN_PI_PROVIDER_ID (what
// Pi's session log names), for this one process; no file of Pi's is read or written for it.
export default function (pi) {
  const id = process.env.MAHAVISHNU_RUN_PI_PROVIDER_ID;
  const provider = process.env.MAHAVISHNU_RUN_PI_PROVIDER;
  if (id && provider) pi.registerProvider(id, JSON.parse(provider));
}
