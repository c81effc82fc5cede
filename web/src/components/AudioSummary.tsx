import type { Audio } from '../api/types'

export function AudioSummary({ audio }: { audio: Audio }) {
  return (
    <div className="space-y-2 text-sm">
      {/* the captions repeat the transcript below, line by line as it is spoken */}
      <audio controls preload="metadata" src={audio.url} className="w-full" aria-describedby="transcript">
        {audio.captions_url ? <track kind="captions" src={audio.captions_url} srcLang="en" label="English" default /> : null}
      </audio>
      <p className="text-xs text-slate-600 dark:text-slate-400">{audio.duration_s.toFixed(1)} s</p>
      <h3 className="font-medium">Transcript</h3>
      <p id="transcript" className="whitespace-pre-wrap">
        {audio.transcript}
      </p>
    </div>
  )
}
