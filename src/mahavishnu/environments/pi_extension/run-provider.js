// `mahavishnu run PROFILE --tool pi`: the session's provider, from the environment only (nothing is
// written). Loaded with `pi -e <this file> --provider mahavishnu-run --model MODEL`;
// MAHAVISHNU_RUN_PI_PROVIDER holds the provider ({"baseUrl", "api", "models"}) as JSON, the key
// stays in MAHAVISHNU_RUN_API_KEY, which Pi reads by name.
export default function (pi) {
	const raw = process.env.MAHAVISHNU_RUN_PI_PROVIDER;
	if (!raw) return;
	pi.registerProvider("mahavishnu-run", { ...JSON.parse(raw), apiKey: "MAHAVISHNU_RUN_API_KEY" });
}
