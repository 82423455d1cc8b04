// The golden values' source: Beam's Nexmark generator logic (GeneratorConfig, Generator, Person/Auction/Bid/Strings/
// Price/LongGenerator) on the JDK's own java.util.Random, plus the seeded channel/url of bids, one event per line.
// `javac NexmarkReference.java && java NexmarkReference COUNT [FROM] [DELAY_US] [OUT_OF_ORDER_GROUP]`; the hashes
// pinned in ../generator.test.ts are sha256 of its output.
import java.util.Random;

public class NexmarkReference {
  static final int PD = 50;
  static long baseTime = 1436918400000L, delayUs = 10; static long ooo = 1;
  static String[] ST = "AZ,CA,ID,OR,WA,WY".split(","), CI = "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne".split(",");
  static String[] FN = "Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter".split(","), LN = "Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris".split(",");
  static String[] HOT = {"Google", "Facebook", "Baidu", "Apple"};
  static long ts(long n) { return baseTime + (n * delayUs) / 1000L; }
  static long adj(long num) { long n = ooo; long e = num; return (e / n) * n + (e * 953) % n; }
  static long lastP(long id) { long ep = id / PD, off = id % PD; if (off >= 1) off = 0; return ep + off; }
  static long lastA(long id) { long ep = id / PD, off = id % PD; if (off < 1) { ep--; off = 2; } else if (off >= 4) off = 2; else off -= 1; return ep * 3 + off; }
  static long nextLong(Random r, long n) { if (n < Integer.MAX_VALUE) return r.nextInt((int) n); return Math.abs(r.nextLong() % n); }
  static long nextP(long id, Random r) { long np = lastP(id) + 1; long act = Math.min(np, 1000); return np - act + nextLong(r, act + 10); }
  static long nextA(long id, Random r) { long mn = Math.max(lastA(id) - 100, 0); long mx = lastA(id); return mn + nextLong(r, mx - mn + 1 + 10); }
  static long price(Random r) { return Math.round(Math.pow(10.0, r.nextDouble() * 6.0) * 100.0); }
  static String str(Random r, int max, char sp) { int len = 3 + r.nextInt(max - 3); StringBuilder sb = new StringBuilder(); while (len-- > 0) { if (r.nextInt(13) == 0) sb.append(sp); else sb.append((char) ('a' + r.nextInt(26))); } return sp == ' ' ? sb.toString().trim() : sb.toString(); }
  static String exact(Random r, int length) { StringBuilder sb = new StringBuilder(); int rnd = 0, n = 0; while (length-- > 0) { if (n == 0) { rnd = r.nextInt(); n = 6; } sb.append((char) ('a' + rnd % 26)); rnd /= 26; n--; } return sb.toString(); }
  static String extra(Random r, int cur, int avg) { if (cur > avg) return ""; avg -= cur; int delta = (int) Math.round(avg * 0.2); int min = avg - delta; int size = min + (delta == 0 ? 0 : r.nextInt(2 * delta)); return exact(r, size); }
  static String url(Random r) { return "https://www.nexmark.com/" + str(r, 5, '_') + '/' + str(r, 5, '_') + '/' + str(r, 5, '_') + '/' + "item.htm?query=1"; }
  public static void main(String[] a) {
    long count = Long.parseLong(a[0]); long from = a.length > 1 ? Long.parseLong(a[1]) : 0; if (a.length > 2) delayUs = Long.parseLong(a[2]); if (a.length > 3) ooo = Long.parseLong(a[3]);
    String[] hotUrls = new String[4]; for (int i = 0; i < 4; i++) hotUrls[i] = url(new Random(10000 + i));
    StringBuilder out = new StringBuilder();
    java.io.PrintStream ps = new java.io.PrintStream(new java.io.BufferedOutputStream(System.out, 1 << 20), false);
    for (long k = from; k < from + count; k++) {
      long t = ts(adj(k)); long id = adj(k); Random r = new Random(id); long rem = id % PD;
      if (rem < 1) {
        long pid = lastP(id) + 1000; String name = FN[r.nextInt(11)] + " " + LN[r.nextInt(9)]; String email = str(r, 7, ' ') + "@" + str(r, 5, ' ') + ".com";
        StringBuilder cc = new StringBuilder(); for (int i = 0; i < 4; i++) { if (i > 0) cc.append(' '); cc.append(String.format("%04d", r.nextInt(10000))); }
        String city = CI[r.nextInt(10)], state = ST[r.nextInt(6)]; int cur = 8 + name.length() + email.length() + cc.length() + city.length() + state.length();
        ps.println("P\t" + pid + "\t" + name + "\t" + email + "\t" + cc + "\t" + city + "\t" + state + "\t" + t + "\t" + extra(r, cur, 200));
      } else if (rem < 4) {
        long aid = lastA(id) + 1000; long seller; if (r.nextInt(4) > 0) seller = (lastP(id) / 100) * 100; else seller = nextP(id, r); seller += 1000;
        long cat = 10 + r.nextInt(5); long ib = price(r); long fut = ts(adj(k) + (100L * 50) / 3); long hor = fut - t; long exp = t + 1L + nextLong(r, Math.max(hor * 2, 1L));
        String nm = str(r, 20, ' '), desc = str(r, 100, ' '); long res = ib + price(r); int cur = 8 + nm.length() + desc.length() + 40;
        ps.println("A\t" + aid + "\t" + nm + "\t" + desc + "\t" + ib + "\t" + res + "\t" + t + "\t" + exp + "\t" + seller + "\t" + cat + "\t" + extra(r, cur, 500));
      } else {
        long auc; if (r.nextInt(2) > 0) auc = (lastA(id) / 100) * 100; else auc = nextA(id, r); auc += 1000;
        long bidder; if (r.nextInt(4) > 0) bidder = (lastP(id) / 100) * 100 + 1; else bidder = nextP(id, r); bidder += 1000;
        long p = price(r); String ex = extra(r, 32, 100); String ch, u;
        if (r.nextInt(2) > 0) { int i = r.nextInt(4); ch = HOT[i]; u = hotUrls[i]; } else { int c = r.nextInt(10000); Random cr = new Random(c); u = url(cr); if (cr.nextInt(10) > 0) u = u + "&channel_id=" + Math.abs(Integer.reverse(c)); ch = "channel-" + c; }
        ps.println("B\t" + auc + "\t" + bidder + "\t" + p + "\t" + ch + "\t" + u + "\t" + t + "\t" + ex);
      }
    }
    ps.flush();
  }
}
