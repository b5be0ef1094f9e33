#!/usr/bin/env bash
# Generates the shipped default prompt set of hotline (config/prompts/):
# Mandarin and English speech prompts made with espeak-ng, and the
# music-on-hold loop synthesised with sox. See README.md beside this file.
#
# Usage: config/prompts/generate.sh        (from anywhere)
#
# Every output file is WAV, 8000 Hz, 16-bit signed little-endian PCM, mono.
# The script is idempotent and reproducible: it renders each file in a
# scratch directory and replaces the shipped one only when the bytes differ
# (sox runs with -R, so nothing random changes between runs; same bytes
# with the same espeak-ng and sox versions). At the end it
# checks every file (format, duration, not silent, not clipped) and prints
# the total size; it exits non-zero if any check fails.
#
# Needs: espeak-ng (with its Mandarin voice) and sox/soxi.
#   Debian/Ubuntu: apt-get install -y espeak-ng sox

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# ---------------------------------------------------------------- tools
missing=()
for tool in espeak-ng sox soxi awk cmp; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "generate.sh: missing tool(s): ${missing[*]}" >&2
    echo "  install them with: apt-get install -y espeak-ng sox" >&2
    echo "  (Debian/Ubuntu package names; espeak-ng's Mandarin voice ships in espeak-ng-data)" >&2
    exit 1
fi

# Mandarin voice. espeak-ng's plain "cmn" voice reads Han characters by way
# of pinyin that it then speaks with English rules ("nin2" -> "nin two"),
# at least in espeak-ng 1.51; "cmn-latn-pinyin" is the same Mandarin voice
# with Latin read as pinyin, and speaks the characters correctly.
ZH_VOICE=cmn-latn-pinyin
EN_VOICE=en-us
ZH_SPEED=190   # words per minute (espeak-ng -s); ~4.3 syllables/s
EN_SPEED=150
if ! espeak-ng --voices=cmn 2>/dev/null | awk '{print $2}' | grep -qx "$ZH_VOICE"; then
    echo "generate.sh: espeak-ng has no '$ZH_VOICE' voice (espeak-ng --voices=cmn)" >&2
    echo "  install a full espeak-ng: apt-get install -y espeak-ng espeak-ng-data" >&2
    exit 1
fi

echo "generate.sh: $(espeak-ng --version | head -n1 | sed 's/  Data at:.*//')"
echo "generate.sh: $(sox --version 2>&1 | sed 's/^sox: *//')"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# -R: repeatable (fixed seeds, no timestamps); -D: no dither, so the padding
# stays digital silence and the output is byte-for-byte reproducible;
# -V2: errors and warnings (e.g. clipping) only.
SOX=(sox -R -D -V2)
OUTFMT=(-t wav -r 8000 -c 1 -b 16 -e signed-integer -L)
FLOAT=(-t wav -r 8000 -c 1 -b 32 -e floating-point)

# --------------------------------------------------------- bookkeeping
total=0
declare -a all_files=()
count=0

# install TMPFILE DEST: move into place unless identical; print progress.
install_file() {
    local src="$1" dest="$2" state
    mkdir -p "$(dirname "$dest")"
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
        state=unchanged
        rm -f "$src"
    else
        [[ -f "$dest" ]] && state=updated || state=new
        mv -f "$src" "$dest"
    fi
    count=$((count + 1))
    all_files+=("$dest")
    printf '[%2d/%2d] %-24s %6.2f s  %s\n' "$count" "$total" "$dest" "$(soxi -D "$dest")" "$state"
}

# speak LANG NAME TEXT: one speech prompt, LANG/NAME.wav.
# espeak-ng renders at 22050 Hz; sox trims leading and trailing silence,
# removes rumble below 100 Hz, resamples to 8 kHz with the very-high-quality
# band-limiting resampler (rate -v), normalises the peak to -3 dBFS and pads
# 0.03 s before and 0.17 s after, so prompts played back to back (position,
# then wait) get a 0.2 s gap: neither glued together nor far apart.
# (gain -6 first gives the filters headroom: espeak-ng peaks at 0 dBFS.)
speak() {
    local lang="$1" name="$2" text="$3" voice speed
    case "$lang" in
        zh) voice=$ZH_VOICE speed=$ZH_SPEED ;;
        en) voice=$EN_VOICE speed=$EN_SPEED ;;
        *) echo "generate.sh: unknown language $lang" >&2; exit 1 ;;
    esac
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$text"
    "${SOX[@]}" "$tmp/raw.wav" "${OUTFMT[@]}" "$tmp/out.wav" \
        silence 1 0.02 0.3% reverse silence 1 0.02 0.3% reverse \
        gain -6 highpass 100 rate -v 8000 gain -n -3 pad 0.03 0.17
    install_file "$tmp/out.wav" "$lang/$name.wav"
}

# ------------------------------------------------------------- texts
# Position file N = the caller is Nth in line = N-1 callers ahead of them.
# Wait file N = estimated wait of about N minutes (round up; 0 -> 1).
# Chinese numbers are written as characters: espeak-ng reads "2位" as
# "er wei" (should be "liang wei") and "12345" as a quantity, not digits.
zh_num=(零 一 两 三 四 五 六 七 八 九 十)
en_num=(zero one two three four five six seven eight nine ten)

declare -a prompts=()
job() { prompts+=("$1"$'\t'"$2"$'\t'"$3"); }

job zh welcome   "您好，欢迎致电一二三四五政务服务便民热线，正在为您转接，请稍候。"
job en welcome   "Welcome to the one two three four five citizen service hotline. Please hold, we are connecting you to an agent."
job zh position-1 "您是下一位，请稍候。"
job en position-1 "You are next in line."
for n in 2 3 4 5 6 7 8 9 10; do
    ahead=$((n - 1))
    job zh "position-$n" "您前面还有${zh_num[$ahead]}位来电者。"
    if ((ahead == 1)); then
        job en "position-$n" "There is one caller ahead of you."
    else
        job en "position-$n" "There are ${en_num[$ahead]} callers ahead of you."
    fi
done
job zh position-many "您前面还有十位以上来电者。"
job en position-many "There are ten or more callers ahead of you."
job zh wait-1 "预计等待时间约一分钟。"
job en wait-1 "The estimated wait is about one minute."
for n in 2 3 4 5 6 7 8 9 10; do
    job zh "wait-$n" "预计等待时间约${zh_num[$n]}分钟。"
    job en "wait-$n" "The estimated wait is about ${en_num[$n]} minutes."
done
job zh wait-many "预计等待时间超过十分钟。"
job en wait-many "The estimated wait is more than ten minutes."
job zh survey    "请您对本次服务进行评价：满意请按一，基本满意请按二，不满意请按三。"
job en survey    "Please rate our service: press one if satisfied, two if fairly satisfied, three if dissatisfied."
job zh thanks    "感谢您的评价，再见。"
job en thanks    "Thank you for your feedback. Goodbye."
job zh busy      "线路忙，请稍后再拨。"
job en busy      "All our lines are busy. Please call again later."
job zh emergency "正在为您接通紧急服务，请不要挂机。"
job en emergency "Connecting you to the emergency operator. Please stay on the line."

total=$((${#prompts[@]} + 1))   # + music/hold.wav

for j in "${prompts[@]}"; do
    IFS=$'\t' read -r lang name text <<<"$j"
    speak "$lang" "$name" "$text"
done

# ------------------------------------------------------ music on hold
# A calm 24 s loop in F major, 60 bpm: four chords of 6 s each
# (Fmaj7, Dm7, Bbmaj7, Cadd9), each a soft sine pad (every note doubled
# 0.7 Hz sharp for a slow chorus-like beating) under an arpeggio of
# sine "bell" notes (fundamental plus a quiet octave, 40 ms attack, long
# fade), one every 0.75 s. The last chord and notes ring on past the end
# of the loop; that overhang is mixed back onto the start, so the end
# flows into the beginning with no click and no gap: the file loops
# seamlessly.
# Level: RMS normalised to MUSIC_RMS dBFS.
MUSIC_RMS=${MUSIC_RMS:--20}
MUSIC_PEAK_MAX=-1.5
music() {
    local loop=24 chord_len=6 step=0.75 note_len=2.6
    local -a pads=(
        "349.23 440.00 523.25 659.26"   # Fmaj7  F4 A4 C5 E5
        "293.66 349.23 440.00 523.25"   # Dm7    D4 F4 A4 C5
        "233.08 293.66 349.23 440.00"   # Bbmaj7 Bb3 D4 F4 A4
        "261.63 329.63 392.00 587.33"   # Cadd9  C4 E4 G4 D5
    )
    local -a arps=(
        "523.25 659.26 880.00 659.26 698.46 523.25 440.00 523.25"   # C5 E5 A5 E5 F5 C5 A4 C5
        "440.00 523.25 698.46 523.25 587.33 440.00 349.23 440.00"   # A4 C5 F5 C5 D5 A4 F4 A4
        "466.16 587.33 698.46 587.33 880.00 698.46 587.33 466.16"   # Bb4 D5 F5 D5 A5 F5 D5 Bb4
        "392.00 523.25 587.33 659.26 783.99 659.26 587.33 523.25"   # G4 C5 D5 E5 G5 E5 D5 C5
    )
    local d="$tmp/music" c i start f synth remix
    mkdir -p "$d"
    local -a mix=()
    for c in 0 1 2 3; do
        # pad: 7.5 s so neighbouring chords cross-fade
        synth=() remix=""
        i=1
        for f in ${pads[$c]}; do
            synth+=(sine "$f" sine "$(awk -v f="$f" 'BEGIN{printf "%.2f", f + 0.7}')")
            remix+="${remix:+,}${i}v0.18,$((i + 1))v0.07"
            i=$((i + 2))
        done
        start=$((c * chord_len))
        "${SOX[@]}" -r 8000 -c 8 -n "${FLOAT[@]}" "$d/pad$c.wav" \
            synth 7.5 "${synth[@]}" remix "$remix" \
            fade h 2 7.5 3 pad "$start"
        mix+=(-v 1 "$d/pad$c.wav")
        i=0
        for f in ${arps[$c]}; do
            start=$(awk -v c="$c" -v i="$i" -v L="$chord_len" -v s="$step" \
                'BEGIN{printf "%.3f", c * L + i * s}')
            "${SOX[@]}" -r 8000 -c 2 -n "${FLOAT[@]}" "$d/n$c-$i.wav" \
                synth "$note_len" sine "$f" sine "$(awk -v f="$f" 'BEGIN{print 2 * f}')" \
                remix 1v0.85,2v0.15 fade q 0.04 fade l 0 "$note_len" 2.5 pad "$start"
            mix+=(-v 0.12 "$d/n$c-$i.wav")
            i=$((i + 1))
        done
    done
    # mix everything and soften the top a little (the 8 kHz line has no
    # use for it)
    "${SOX[@]}" -m "${mix[@]}" "${FLOAT[@]}" "$d/full.wav" lowpass 2500
    # wrap the overhang (everything after $loop s) onto the start
    "${SOX[@]}" "$d/full.wav" "${FLOAT[@]}" "$d/body.wav" trim 0 "$loop"
    "${SOX[@]}" "$d/full.wav" "${FLOAT[@]}" "$d/tail.wav" trim "$loop"
    "${SOX[@]}" -m -v 1 "$d/body.wav" -v 1 "$d/tail.wav" "${FLOAT[@]}" "$d/loop.wav"
    # Level: the RMS target is MUSIC_RMS. Chords of sines have a high crest
    # factor (peak/RMS ~13 dB here), so a fast compressor (2 ms look-ahead,
    # about 3:1 above -16 dBFS) takes the tops off the peaks first; the
    # final gain then brings the RMS to MUSIC_RMS, or lower if the peak
    # would exceed MUSIC_PEAK_MAX. To keep the loop seamless the compressor
    # runs over three copies of the loop and one loop length from the middle
    # is kept: its start has the same history (the loop's end) as in play.
    local rms pk gain
    rms=$(sox "$d/loop.wav" -n stats 2>&1 | awk '/^RMS lev dB/{print $4}')
    gain=$(awk -v r="$rms" 'BEGIN{printf "%.2f", -18 - r}')
    "${SOX[@]}" "$d/loop.wav" "$d/loop.wav" "$d/loop.wav" "${FLOAT[@]}" "$d/comp.wav" \
        gain "$gain" compand 0.001,0.08 -90,-90,-16,-16,0,-12 0 -18 0.002 \
        trim "$loop" "$loop"
    read -r rms pk < <(sox "$d/comp.wav" -n stats 2>&1 |
        awk '/^RMS lev dB/{r=$4} /^Pk lev dB/{p=$4} END{print r, p}')
    gain=$(awk -v r="$rms" -v p="$pk" -v t="$MUSIC_RMS" -v m="$MUSIC_PEAK_MAX" \
        'BEGIN{g = t - r; if (p + g > m) g = m - p; printf "%.2f", g}')
    "${SOX[@]}" "$d/comp.wav" "${OUTFMT[@]}" "$tmp/out.wav" gain "$gain"
    install_file "$tmp/out.wav" music/hold.wav
}
music

# -------------------------------------------------------------- checks
echo
echo "checks:"
fail=0
for f in "${all_files[@]}"; do
    problems=()
    rate=$(soxi -r "$f"); chans=$(soxi -c "$f"); bits=$(soxi -b "$f")
    enc=$(soxi -e "$f"); dur=$(soxi -D "$f")
    [[ "$rate" == 8000 ]] || problems+=("rate $rate")
    [[ "$chans" == 1 ]] || problems+=("channels $chans")
    [[ "$bits" == 16 ]] || problems+=("bits $bits")
    [[ "$enc" == "Signed Integer PCM" ]] || problems+=("encoding $enc")
    if [[ "$f" == music/* ]]; then
        awk -v d="$dur" 'BEGIN{exit !(d >= 15 && d <= 40)}' || problems+=("duration $dur")
    else
        awk -v d="$dur" 'BEGIN{exit !(d > 0.5 && d < 12)}' || problems+=("duration $dur")
    fi
    st=$(sox "$f" -n stat 2>&1)
    maxamp=$(awk -F: '/^Maximum amplitude/{gsub(/ /,"",$2); print $2}' <<<"$st")
    minamp=$(awk -F: '/^Minimum amplitude/{gsub(/ /,"",$2); print $2}' <<<"$st")
    rmsamp=$(awk -F: '/^RMS +amplitude/{gsub(/ /,"",$2); print $2}' <<<"$st")
    # not silent: RMS above -40 dBFS; not clipped: peaks below -0.5 dBFS
    awk -v r="$rmsamp" 'BEGIN{exit !(r > 0.01)}' || problems+=("silent (rms $rmsamp)")
    awk -v a="$maxamp" -v b="$minamp" 'BEGIN{if (b < 0) b = -b; exit !(a < 0.944 && b < 0.944)}' \
        || problems+=("clipped/too hot (max $maxamp min $minamp)")
    grep -qi clip <<<"$st" && problems+=("sox reports clipping")
    stats=$(sox "$f" -n stats 2>&1)
    pk=$(awk '/^Pk lev dB/{print $4}' <<<"$stats")
    rmsdb=$(awk '/^RMS lev dB/{print $4}' <<<"$stats")
    if ((${#problems[@]})); then
        printf '  FAIL %-24s %s\n' "$f" "${problems[*]}"
        fail=1
    else
        printf '  ok   %-24s %6.2f s  peak %6s dBFS  rms %6s dBFS\n' "$f" "$dur" "$pk" "$rmsdb"
    fi
done
bytes=$(cat "${all_files[@]}" | wc -c)
echo
echo "${#all_files[@]} files, $bytes bytes ($(awk -v b="$bytes" 'BEGIN{printf "%.2f", b / 1048576}') MiB)"
if ((fail)); then
    echo "generate.sh: some checks failed" >&2
    exit 1
fi
